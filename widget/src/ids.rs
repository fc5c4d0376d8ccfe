//! Submission ids and tab tokens from the browser's cryptographic random source: an id is a ULID
//! (26 characters of Crockford base32, time first), so ids sort in the order surveys were opened.

use alloc::string::String;

use wasm_bindgen::prelude::*;

/// Crockford's base32: no I, L, O or U, so ids survive being read aloud or copied by hand.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[wasm_bindgen]
extern "C" {
    /// `crypto.getRandomValues` on the global `crypto`, one import: web-sys's `window.crypto`
    /// getter and its own call cost the web module two imports, an `externref` slot and its drop.
    /// Where there is no `crypto` the call throws, and is caught.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]) -> Result<(), JsValue>;
}

/// Fills `buf` with random bytes: `crypto.getRandomValues`, or `Math.random` where a very old
/// browser has no `crypto` (the id is an idempotency key, not a secret).
pub fn random_bytes(buf: &mut [u8]) {
    if get_random_values(buf).is_err() {
        for b in buf.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
}

/// A ULID for `now_ms` with the 16 random bytes `random` (5 bits of each are used: 80 bits).
pub fn ulid(now_ms: f64, random: &[u8; 16]) -> String {
    let mut out = [0u8; 26];
    let mut time = now_ms.max(0.0) as u64;
    for slot in out.iter_mut().take(10).rev() {
        *slot = ALPHABET[(time & 31) as usize];
        time >>= 5;
    }
    for (slot, r) in out.iter_mut().skip(10).zip(random) {
        *slot = ALPHABET[usize::from(r & 31)];
    }
    out.iter().map(|&c| char::from(c)).collect()
}

/// A fresh submission id, made when a survey opens.
pub fn new_id() -> String {
    let mut random = [0u8; 16];
    random_bytes(&mut random);
    ulid(js_sys::Date::now(), &random)
}

/// A short random token naming this tab in outbox leases.
pub fn tab_token() -> String {
    let mut random = [0u8; 16];
    random_bytes(&mut random);
    // The last 8 characters of a ULID: those of random bytes 8..16.
    random
        .iter()
        .skip(8)
        .map(|r| char::from(ALPHABET[usize::from(r & 31)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::SubmissionId;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn ids_are_valid_submission_ids_and_sort_by_time() {
        let a = ulid(1_795_341_600_000.0, &[255; 16]);
        let b = ulid(1_795_341_600_001.0, &[0; 16]);
        assert_eq!(a.len(), 26);
        assert!(SubmissionId::parse(&a).is_ok(), "{a}");
        assert!(a < b, "{a} {b}");
        assert_eq!(ulid(0.0, &[0; 16]), "0".repeat(26));
        assert!(b.ends_with(&"0".repeat(16)));
        assert!(a.ends_with(&"Z".repeat(16)));
    }

    #[wasm_bindgen_test]
    fn fresh_ids_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert!(SubmissionId::parse(&b).is_ok());
        assert_eq!(tab_token().len(), 8);
    }
}
