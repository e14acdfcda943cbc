//! The keyring rule (memberlist `net.go ingestPacket`, `security.go`, `keyring.go`): a member
//! holds at most one gossip key here (a `Keyring` by identity only), so encrypted and
//! plaintext members cannot exchange packets or streams, and two different keys cannot either.

use crate::KeyId;

/// Whether a receiver holding `rx` can read what a sender holding `sender` sent: same key, or
/// both plaintext, or plaintext to a keyed receiver that does not verify incoming
/// (`GossipVerifyIncoming` false).
pub(crate) fn can_read(sender: Option<KeyId>, rx: Option<KeyId>, verify_incoming: bool) -> bool {
    match (sender, rx) {
        (Some(a), Some(b)) => a == b,
        (None, None) => true,
        (None, Some(_)) => !verify_incoming,
        (Some(_), None) => false,
    }
}
