//! Harm IDs: MSC4456's taxonomy under its unstable prefix, plus policyserv's own IDs.

/// `org.matrix.msc4456.spam`
pub const SPAM: &str = "org.matrix.msc4456.spam";
/// `org.matrix.msc4456.spam.fraud`
pub const SPAM_FRAUD: &str = "org.matrix.msc4456.spam.fraud";
/// `org.matrix.msc4456.spam.impersonation`
pub const SPAM_IMPERSONATION: &str = "org.matrix.msc4456.spam.impersonation";
/// `org.matrix.msc4456.spam.election_interference`
pub const SPAM_ELECTION_INTERFERENCE: &str = "org.matrix.msc4456.spam.election_interference";
/// `org.matrix.msc4456.spam.flooding`
pub const SPAM_FLOODING: &str = "org.matrix.msc4456.spam.flooding";
/// `org.matrix.msc4456.adult`
pub const ADULT: &str = "org.matrix.msc4456.adult";
/// `org.matrix.msc4456.adult.sexual_abuse`
pub const ADULT_SEXUAL_ABUSE: &str = "org.matrix.msc4456.adult.sexual_abuse";
/// `org.matrix.msc4456.adult.ncii`
pub const ADULT_NCII: &str = "org.matrix.msc4456.adult.ncii";
/// `org.matrix.msc4456.adult.deepfake`
pub const ADULT_DEEPFAKE: &str = "org.matrix.msc4456.adult.deepfake";
/// `org.matrix.msc4456.adult.animal_sexual_abuse`
pub const ADULT_ANIMAL_SEXUAL_ABUSE: &str = "org.matrix.msc4456.adult.animal_sexual_abuse";
/// `org.matrix.msc4456.adult.sexual_violence`
pub const ADULT_SEXUAL_VIOLENCE: &str = "org.matrix.msc4456.adult.sexual_violence";
/// `org.matrix.msc4456.harassment`
pub const HARASSMENT: &str = "org.matrix.msc4456.harassment";
/// `org.matrix.msc4456.harassment.trolling`
pub const HARASSMENT_TROLLING: &str = "org.matrix.msc4456.harassment.trolling";
/// `org.matrix.msc4456.harassment.targeted`
pub const HARASSMENT_TARGETED: &str = "org.matrix.msc4456.harassment.targeted";
/// `org.matrix.msc4456.harassment.hate`
pub const HARASSMENT_HATE: &str = "org.matrix.msc4456.harassment.hate";
/// `org.matrix.msc4456.harassment.doxxing`
pub const HARASSMENT_DOXXING: &str = "org.matrix.msc4456.harassment.doxxing";
/// `org.matrix.msc4456.violence`
pub const VIOLENCE: &str = "org.matrix.msc4456.violence";
/// `org.matrix.msc4456.violence.animal_welfare`
pub const VIOLENCE_ANIMAL_WELFARE: &str = "org.matrix.msc4456.violence.animal_welfare";
/// `org.matrix.msc4456.violence.threats`
pub const VIOLENCE_THREATS: &str = "org.matrix.msc4456.violence.threats";
/// `org.matrix.msc4456.violence.graphic`
pub const VIOLENCE_GRAPHIC: &str = "org.matrix.msc4456.violence.graphic";
/// `org.matrix.msc4456.violence.glorification`
pub const VIOLENCE_GLORIFICATION: &str = "org.matrix.msc4456.violence.glorification";
/// `org.matrix.msc4456.violence.extremist`
pub const VIOLENCE_EXTREMIST: &str = "org.matrix.msc4456.violence.extremist";
/// `org.matrix.msc4456.violence.human_trafficking`
pub const VIOLENCE_HUMAN_TRAFFICKING: &str = "org.matrix.msc4456.violence.human_trafficking";
/// `org.matrix.msc4456.violence.domestic`
pub const VIOLENCE_DOMESTIC: &str = "org.matrix.msc4456.violence.domestic";
/// `org.matrix.msc4456.child_safety`
pub const CHILD_SAFETY: &str = "org.matrix.msc4456.child_safety";
/// `org.matrix.msc4456.child_safety.csam`
pub const CHILD_SAFETY_CSAM: &str = "org.matrix.msc4456.child_safety.csam";
/// `org.matrix.msc4456.child_safety.grooming`
pub const CHILD_SAFETY_GROOMING: &str = "org.matrix.msc4456.child_safety.grooming";
/// `org.matrix.msc4456.child_safety.privacy_violation`
pub const CHILD_SAFETY_PRIVACY_VIOLATION: &str = "org.matrix.msc4456.child_safety.privacy_violation";
/// `org.matrix.msc4456.child_safety.harassment`
pub const CHILD_SAFETY_HARASSMENT: &str = "org.matrix.msc4456.child_safety.harassment";
/// `org.matrix.msc4456.danger`
pub const DANGER: &str = "org.matrix.msc4456.danger";
/// `org.matrix.msc4456.danger.self_harm`
pub const DANGER_SELF_HARM: &str = "org.matrix.msc4456.danger.self_harm";
/// `org.matrix.msc4456.danger.eating_disorder`
pub const DANGER_EATING_DISORDER: &str = "org.matrix.msc4456.danger.eating_disorder";
/// `org.matrix.msc4456.danger.challenges`
pub const DANGER_CHALLENGES: &str = "org.matrix.msc4456.danger.challenges";
/// `org.matrix.msc4456.danger.substance_abuse`
pub const DANGER_SUBSTANCE_ABUSE: &str = "org.matrix.msc4456.danger.substance_abuse";
/// `org.matrix.msc4456.tos`
pub const TOS: &str = "org.matrix.msc4456.tos";
/// `org.matrix.msc4456.tos.hacking`
pub const TOS_HACKING: &str = "org.matrix.msc4456.tos.hacking";
/// `org.matrix.msc4456.tos.prohibited`
pub const TOS_PROHIBITED: &str = "org.matrix.msc4456.tos.prohibited";
/// `org.matrix.msc4456.tos.ban_evasion`
pub const TOS_BAN_EVASION: &str = "org.matrix.msc4456.tos.ban_evasion";
/// `org.matrix.msc4456.other`
pub const OTHER: &str = "org.matrix.msc4456.other";
/// `org.matrix.policyserv.media`: the event carries media the community does not accept.
pub const PS_MEDIA: &str = "org.matrix.policyserv.media";
/// `org.matrix.policyserv.spec_non_compliance`: the event breaks the Matrix spec.
pub const PS_SPEC_NON_COMPLIANCE: &str = "org.matrix.policyserv.spec_non_compliance";

/// Every harm ID this crate knows (MSC4456 then policyserv), in declaration order.
pub const ALL: &[&str] = &[
    SPAM,
    SPAM_FRAUD,
    SPAM_IMPERSONATION,
    SPAM_ELECTION_INTERFERENCE,
    SPAM_FLOODING,
    ADULT,
    ADULT_SEXUAL_ABUSE,
    ADULT_NCII,
    ADULT_DEEPFAKE,
    ADULT_ANIMAL_SEXUAL_ABUSE,
    ADULT_SEXUAL_VIOLENCE,
    HARASSMENT,
    HARASSMENT_TROLLING,
    HARASSMENT_TARGETED,
    HARASSMENT_HATE,
    HARASSMENT_DOXXING,
    VIOLENCE,
    VIOLENCE_ANIMAL_WELFARE,
    VIOLENCE_THREATS,
    VIOLENCE_GRAPHIC,
    VIOLENCE_GLORIFICATION,
    VIOLENCE_EXTREMIST,
    VIOLENCE_HUMAN_TRAFFICKING,
    VIOLENCE_DOMESTIC,
    CHILD_SAFETY,
    CHILD_SAFETY_CSAM,
    CHILD_SAFETY_GROOMING,
    CHILD_SAFETY_PRIVACY_VIOLATION,
    CHILD_SAFETY_HARASSMENT,
    DANGER,
    DANGER_SELF_HARM,
    DANGER_EATING_DISORDER,
    DANGER_CHALLENGES,
    DANGER_SUBSTANCE_ABUSE,
    TOS,
    TOS_HACKING,
    TOS_PROHIBITED,
    TOS_BAN_EVASION,
    OTHER,
    PS_MEDIA,
    PS_SPEC_NON_COMPLIANCE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let unique: std::collections::BTreeSet<_> = ALL.iter().collect();
        assert_eq!(unique.len(), ALL.len());
        assert_eq!(ALL.len(), 41);
        for id in ALL {
            assert!(
                id.starts_with("org.matrix.msc4456.") || id.starts_with("org.matrix.policyserv."),
                "{id}"
            );
        }
    }
}
