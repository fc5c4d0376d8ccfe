//! The Standard Webhooks signature: `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, keyed
//! with the decoded `whsec_` secret; one signature per secret, space-separated, while a secret is
//! rotated.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::org::notify::SigningKey;

/// The `webhook-signature` header for `body` sent as message `id` at `timestamp` (Unix seconds).
pub fn signature(keys: &[SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.bytes())
                .expect("HMAC takes a key of any length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            let tag = mac.finalize().into_bytes();
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(tag)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> SigningKey {
        SigningKey::parse(text).expect("a whsec_ secret")
    }

    /// The specification's own example.
    #[test]
    fn the_specification_vector_signs_as_published() {
        let signed = signature(
            &[key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signed, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one() {
        let new = key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let old = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let both = signature(&[new.clone(), old.clone()], "msg_1", 1, b"{}");
        let (first, second) = both.split_once(' ').expect("two signatures");
        assert_eq!(first, signature(&[new], "msg_1", 1, b"{}"));
        assert_eq!(second, signature(&[old], "msg_1", 1, b"{}"));
        assert_ne!(first, second);
    }
}
