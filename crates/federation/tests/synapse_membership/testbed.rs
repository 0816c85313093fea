//! Starts `tests/interop/testbed` (one real Synapse, hs1, plus a reserved port and certificate for us) and reads
//! the JSON line it prints. The test bed stops its Synapse when our end of its stdin closes, i.e. when the
//! [`Testbed`] is dropped, even if the test fails.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
};

use serde_json::Value;

/// A running test bed.
pub(crate) struct Testbed {
    child: Child,
    stdin: Option<ChildStdin>,
    /// What the test bed printed.
    pub(crate) info: Value,
}

impl Testbed {
    /// Starts hs1 and reserves `palisade`.
    pub(crate) fn start() -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/testbed");
        let mut child = Command::new(script)
            .args(["--synapses", "hs1", "--reserve", "palisade"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tests/interop/testbed starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("testbed prints its description");
        let info = serde_json::from_str(&line).unwrap_or_else(|e| panic!("testbed output {line:?}: {e}"));
        Self { child, stdin, info }
    }

    /// A string field at a JSON pointer.
    pub(crate) fn str(&self, pointer: &str) -> String {
        self.info
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {pointer}"))
            .to_owned()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Closing stdin is the test bed's stop signal; wait so its Synapse is gone before the next test.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
