//! MQTT v5 reason codes [MQTT-2.4]. MQTT 3.1.1 return codes are mapped onto these by the
//! packets that carry them (CONNACK, SUBACK), so the rest of the code speaks one vocabulary.

use std::fmt;

/// A reason code. `0x00` has several names in the spec (Success, Normal disconnection,
/// Granted QoS 0); it is `Success` here, with the other names as associated constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[non_exhaustive]
pub enum ReasonCode {
    Success = 0x00,
    GrantedQoS1 = 0x01,
    GrantedQoS2 = 0x02,
    DisconnectWithWillMessage = 0x04,
    NoMatchingSubscribers = 0x10,
    NoSubscriptionExisted = 0x11,
    ContinueAuthentication = 0x18,
    ReAuthenticate = 0x19,
    UnspecifiedError = 0x80,
    MalformedPacket = 0x81,
    ProtocolError = 0x82,
    ImplementationSpecificError = 0x83,
    UnsupportedProtocolVersion = 0x84,
    ClientIdentifierNotValid = 0x85,
    BadUserNameOrPassword = 0x86,
    NotAuthorized = 0x87,
    ServerUnavailable = 0x88,
    ServerBusy = 0x89,
    Banned = 0x8A,
    ServerShuttingDown = 0x8B,
    BadAuthenticationMethod = 0x8C,
    KeepAliveTimeout = 0x8D,
    SessionTakenOver = 0x8E,
    TopicFilterInvalid = 0x8F,
    TopicNameInvalid = 0x90,
    PacketIdentifierInUse = 0x91,
    PacketIdentifierNotFound = 0x92,
    ReceiveMaximumExceeded = 0x93,
    TopicAliasInvalid = 0x94,
    PacketTooLarge = 0x95,
    MessageRateTooHigh = 0x96,
    QuotaExceeded = 0x97,
    AdministrativeAction = 0x98,
    PayloadFormatInvalid = 0x99,
    RetainNotSupported = 0x9A,
    QoSNotSupported = 0x9B,
    UseAnotherServer = 0x9C,
    ServerMoved = 0x9D,
    SharedSubscriptionsNotSupported = 0x9E,
    ConnectionRateExceeded = 0x9F,
    MaximumConnectTime = 0xA0,
    SubscriptionIdentifiersNotSupported = 0xA1,
    WildcardSubscriptionsNotSupported = 0xA2,
}

use ReasonCode::*;

/// Every reason code, in numeric order (for tests and look-up).
pub const ALL: [ReasonCode; 43] = [
    Success,
    GrantedQoS1,
    GrantedQoS2,
    DisconnectWithWillMessage,
    NoMatchingSubscribers,
    NoSubscriptionExisted,
    ContinueAuthentication,
    ReAuthenticate,
    UnspecifiedError,
    MalformedPacket,
    ProtocolError,
    ImplementationSpecificError,
    UnsupportedProtocolVersion,
    ClientIdentifierNotValid,
    BadUserNameOrPassword,
    NotAuthorized,
    ServerUnavailable,
    ServerBusy,
    Banned,
    ServerShuttingDown,
    BadAuthenticationMethod,
    KeepAliveTimeout,
    SessionTakenOver,
    TopicFilterInvalid,
    TopicNameInvalid,
    PacketIdentifierInUse,
    PacketIdentifierNotFound,
    ReceiveMaximumExceeded,
    TopicAliasInvalid,
    PacketTooLarge,
    MessageRateTooHigh,
    QuotaExceeded,
    AdministrativeAction,
    PayloadFormatInvalid,
    RetainNotSupported,
    QoSNotSupported,
    UseAnotherServer,
    ServerMoved,
    SharedSubscriptionsNotSupported,
    ConnectionRateExceeded,
    MaximumConnectTime,
    SubscriptionIdentifiersNotSupported,
    WildcardSubscriptionsNotSupported,
];

impl ReasonCode {
    pub const NORMAL_DISCONNECTION: ReasonCode = Success;
    pub const GRANTED_QOS_0: ReasonCode = Success;

    /// The code for a byte, if the spec defines one.
    pub fn from_u8(b: u8) -> Option<ReasonCode> {
        ALL.binary_search_by_key(&b, |c| *c as u8)
            .ok()
            .map(|i| ALL[i])
    }

    /// The SUBACK code that grants `qos` [MQTT-3.9.3].
    pub fn granted(qos: crate::QoS) -> ReasonCode {
        match qos {
            crate::QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
            crate::QoS::AtLeastOnce => GrantedQoS1,
            crate::QoS::ExactlyOnce => GrantedQoS2,
        }
    }

    /// The QoS a successful SUBACK code grants (0x00, 0x01, 0x02); `None` for others.
    pub fn granted_qos(self) -> Option<crate::QoS> {
        match self {
            Success => Some(crate::QoS::AtMostOnce),
            GrantedQoS1 => Some(crate::QoS::AtLeastOnce),
            GrantedQoS2 => Some(crate::QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// Codes below 0x80 report success; 0x80 and above report failure [MQTT-2.4].
    pub fn is_error(self) -> bool {
        self as u8 >= 0x80
    }

    /// Whether the spec lets `packet` carry this code (MQTT v5 table 2-6 and the packet sections).
    pub fn valid_in(self, packet: crate::PacketType) -> bool {
        use crate::PacketType as P;
        let b = self as u8;
        match packet {
            P::ConnAck => {
                b == 0
                    || (0x80..=0x9F).contains(&b)
                        && !matches!(
                            b,
                            0x8B | 0x8D | 0x8E | 0x8F | 0x91..=0x94 | 0x96 | 0x98 | 0x9E
                        )
            }
            P::PubAck | P::PubRec => matches!(
                b,
                0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99
            ),
            P::PubRel | P::PubComp => matches!(b, 0x00 | 0x92),
            P::SubAck => matches!(
                b,
                0x00..=0x02 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91 | 0x97 | 0x9E | 0xA1 | 0xA2
            ),
            P::UnsubAck => matches!(b, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91),
            P::Disconnect => {
                matches!(b, 0x00 | 0x04 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B | 0x8D..=0x90 | 0x93..=0xA2)
            }
            P::Auth => matches!(b, 0x00 | 0x18 | 0x19),
            _ => false,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (0x{:02X})", self, *self as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_codes_and_their_qos_are_inverse() {
        use crate::QoS;
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            assert_eq!(ReasonCode::granted(qos).granted_qos(), Some(qos));
        }
        assert_eq!(NotAuthorized.granted_qos(), None);
        assert_eq!(NoMatchingSubscribers.granted_qos(), None);
    }

    #[test]
    fn all_is_sorted_and_round_trips() {
        for w in ALL.windows(2) {
            assert!((w[0] as u8) < (w[1] as u8));
        }
        for c in ALL {
            assert_eq!(ReasonCode::from_u8(c as u8), Some(c));
        }
        assert_eq!(ReasonCode::from_u8(0x03), None);
        assert_eq!(ReasonCode::from_u8(0xFF), None);
    }

    #[test]
    fn validity_per_packet() {
        use crate::PacketType as P;
        assert!(ReasonCode::PacketIdentifierNotFound.valid_in(P::PubRel));
        assert!(!ReasonCode::NotAuthorized.valid_in(P::PubRel));
        assert!(ReasonCode::ServerShuttingDown.valid_in(P::Disconnect));
        assert!(!ReasonCode::ServerShuttingDown.valid_in(P::ConnAck));
        assert!(ReasonCode::BadUserNameOrPassword.valid_in(P::ConnAck));
        assert!(ReasonCode::GrantedQoS2.valid_in(P::SubAck));
        assert!(!ReasonCode::GrantedQoS2.valid_in(P::UnsubAck));
        assert_eq!(
            ReasonCode::PacketTooLarge.to_string(),
            "PacketTooLarge (0x95)"
        );
    }
}
