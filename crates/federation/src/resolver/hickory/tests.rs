//! The hickory adapter against a tiny DNS server on loopback UDP.

use std::net::{Ipv4Addr, SocketAddr};

use hickory_resolver::proto::{
    op::{Message, ResponseCode},
    rr::{Name, RData, Record, RecordType, rdata},
};

use super::*;

/// Answers A and SRV queries from a fixed table; anything else is NXDOMAIN.
async fn spawn_dns_server() -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let Ok((length, peer)) = socket.recv_from(&mut buffer).await else { return };
            let Ok(request) = Message::from_vec(&buffer[..length]) else { continue };
            let mut response = Message::response(request.metadata.id, request.metadata.op_code);
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            for query in &request.queries {
                response.add_query(query.clone());
                let name = query.name().to_utf8();
                match (name.as_str(), query.query_type()) {
                    ("target.test.", RecordType::A) => {
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::A(rdata::A(Ipv4Addr::LOCALHOST)),
                        ));
                    }
                    ("_matrix-fed._tcp.example.test.", RecordType::SRV) => {
                        let target = Name::from_ascii("target.test.").unwrap();
                        response.add_answer(Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::SRV(rdata::SRV::new(10, 5, 8448, target)),
                        ));
                    }
                    ("target.test.", _) => {}
                    _ => response.metadata.response_code = ResponseCode::NXDomain,
                }
            }
            let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
        }
    });
    address
}

#[tokio::test]
async fn answers_a_and_srv_queries_and_treats_nxdomain_as_empty() {
    let server = spawn_dns_server().await;
    let resolver = HickoryResolver::with_name_servers(&[server]).unwrap();
    assert_eq!(resolver.lookup_ip("target.test").await.unwrap(), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert_eq!(
        resolver.lookup_srv("_matrix-fed._tcp.example.test").await.unwrap(),
        vec![SrvRecord { priority: 10, weight: 5, port: 8448, target: "target.test".into() }]
    );
    assert!(resolver.lookup_srv("_matrix._tcp.example.test").await.unwrap().is_empty());
    assert!(resolver.lookup_ip("missing.test").await.unwrap().is_empty());
}
