//! The agent channel: post-call invitations, and their links' QR codes. An invitation is a token the collector signs (HMAC-SHA256) that binds one call — its
//! touchpoint, interaction and agent, and optionally the queue and the customer's language — to
//! an expiry. The customer's link (`/s/{token}`) carries it, and so does their answer
//! (`context.invitation`), so nobody can change what the answer is about, and the interactions
//! index of the store keeps it to one answer per call.
//!
//! The link a customer is sent is short: `/s/` and a random id ([`new_link_id`], 20 characters)
//! that the store resolves to the token, so it fits a text message and a small QR code; a link
//! with the token itself (`/s/{token}`, as earlier versions sent) keeps working until it expires.
//!
//! Token: `base64url(claims JSON) "." base64url(HMAC-SHA256(secret, first part))`. The secret
//! comes from `TOUCHPOINT_INVITATION_SECRET`, or is made once and kept by the store, so links
//! survive restarts (an `invitation.key` file an earlier version left in the data directory is
//! taken over).

use std::path::Path;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, Mac};
use protocol::{Channel, Ident, Locale, Submission};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::Secret;

/// The file in the data directory where an earlier version kept the generated secret.
pub const KEY_FILE: &str = "invitation.key";
/// The shortest secret accepted from the environment.
pub const MIN_SECRET_LEN: usize = 32;

/// What an invitation binds. Built only through [`Claims::new`] or a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "t")]
    touchpoint: String,
    #[serde(rename = "i")]
    interaction_id: String,
    #[serde(rename = "a")]
    agent_id: String,
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    locale: Option<String>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    site: Option<String>,
    /// Answered on the agent's screen (assisted capture), not by the customer's own link.
    #[serde(rename = "x", default, skip_serializing_if = "std::ops::Not::not")]
    assisted: bool,
    /// Unix seconds.
    #[serde(rename = "e")]
    expires_at: u64,
}

/// Why a token or an answer carrying one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvitationError {
    /// Not a token this collector could have issued, or changed since.
    #[error("the invitation is not one this collector signed")]
    Invalid,
    #[error("the invitation has expired")]
    Expired,
    /// The answer's channel, touchpoint, interaction, agent, queue, site, locale or assisted flag
    /// differs from the invitation's.
    #[error("the answer does not match its invitation")]
    Mismatch,
    /// An agent-channel answer without an invitation, where the collector requires one.
    #[error("agent-channel answers need an invitation")]
    Required,
}

impl InvitationError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Invalid => "invalid_invitation",
            Self::Expired => "invitation_expired",
            Self::Mismatch => "invitation_mismatch",
            Self::Required => "invitation_required",
        }
    }
}

impl Claims {
    /// Checks each value with the protocol's own rules; `Err` names the field that breaks them.
    pub fn new(
        touchpoint: &str,
        interaction_id: &str,
        agent_id: &str,
        queue: Option<&str>,
        locale: Option<&str>,
        expires_at: u64,
    ) -> Result<Self, &'static str> {
        let ident = |v: &str, field| Ident::parse(v).map(|_| v.to_owned()).ok_or(field);
        Ok(Self {
            touchpoint: ident(touchpoint, "touchpoint")?,
            interaction_id: ident(interaction_id, "interaction_id")?,
            agent_id: ident(agent_id, "agent_id")?,
            queue: queue.map(|q| ident(q, "queue")).transpose()?,
            locale: locale
                .map(|l| Locale::parse(l).map(|l| l.as_str().to_owned()))
                .transpose()
                .map_err(|_| "locale")?,
            site: None,
            assisted: false,
            expires_at,
        })
    }

    /// The same call, at `site` (a branch's call centre, say).
    pub fn at_site(mut self, site: Option<&str>) -> Result<Self, &'static str> {
        self.site = site
            .map(|s| Ident::parse(s).map(|_| s.to_owned()).ok_or("site"))
            .transpose()?;
        Ok(self)
    }

    /// The same call, answered on the agent's screen: the token of assisted capture.
    pub fn assisted(&self) -> Self {
        Self {
            assisted: true,
            ..self.clone()
        }
    }

    pub fn site(&self) -> Option<&str> {
        self.site.as_deref()
    }

    pub fn touchpoint(&self) -> &str {
        &self.touchpoint
    }

    pub fn interaction_id(&self) -> &str {
        &self.interaction_id
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref()
    }

    pub fn locale(&self) -> Option<&str> {
        self.locale.as_deref()
    }

    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }
}

/// Issues and checks invitations; knows who may ask for one.
pub struct Invitations {
    secret: Secret,
    ttl_secs: u64,
    /// Keys of the agents' consoles (`TOUCHPOINT_AGENT_KEYS`); the admin token works too.
    keys: Vec<Secret>,
    /// Refuse agent-channel answers that carry no invitation (`--require-invitation`).
    required: bool,
}

impl std::fmt::Debug for Invitations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitations")
            .field("ttl_secs", &self.ttl_secs)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Invitations {
    pub fn new(secret: Secret, ttl_secs: u64, keys: Vec<Secret>) -> Self {
        Self {
            secret,
            ttl_secs,
            keys,
            required: false,
        }
    }

    /// Agent-channel answers must then carry an invitation: without one, anyone who knows a
    /// call's id could answer for it, naming any agent.
    pub fn requiring(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Whether `given` is one of the agents' keys or `admin`, compared in constant time.
    pub fn authorizes(&self, given: &str, admin: Option<&Secret>) -> bool {
        // Every key is compared, so the time taken does not say which one matched.
        self.keys
            .iter()
            .chain(admin)
            .fold(false, |ok, key| key.matches(given) | ok)
    }

    /// Whether anyone could be given an invitation at all.
    pub fn has_keys(&self, admin: Option<&Secret>) -> bool {
        !self.keys.is_empty() || admin.is_some()
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .expect("HMAC takes a key of any length")
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        [payload.as_str(), ".", &signature].concat()
    }

    /// The claims of a token this collector signed and that has not expired at `now` (unix s).
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, InvitationError> {
        let (payload, signature) = token.split_once('.').ok_or(InvitationError::Invalid)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| InvitationError::Invalid)?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| InvitationError::Invalid)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| InvitationError::Invalid)?;
        let claims: Claims =
            serde_json::from_slice(&bytes).map_err(|_| InvitationError::Invalid)?;
        if claims.expires_at <= now {
            return Err(InvitationError::Expired);
        }
        Ok(claims)
    }

    /// An answer that carries an invitation must be on the agent channel and about exactly the
    /// call the invitation binds: its touchpoint, interaction, agent, queue (the answer's
    /// segment), site, locale when bound, and whether it is the customer's link or assisted
    /// capture on the agent's screen; an agent-channel answer without one is refused when required.
    pub fn check(&self, submission: &Submission, now: u64) -> Result<(), InvitationError> {
        let Some(token) = &submission.context.invitation else {
            return if self.required && submission.channel == Channel::Agent {
                Err(InvitationError::Required)
            } else {
                Ok(())
            };
        };
        let claims = self.verify(token.as_str(), now)?;
        let context = &submission.context;
        let same = |value: Option<&Ident>, bound: &str| value.map(Ident::as_str) == Some(bound);
        let matches = submission.channel == Channel::Agent
            && submission.touchpoint.as_str() == claims.touchpoint
            && same(context.interaction_id.as_ref(), &claims.interaction_id)
            && same(context.agent_id.as_ref(), &claims.agent_id)
            && context.segment.as_ref().map(Ident::as_str) == claims.queue.as_deref()
            && context.site_id.as_ref().map(Ident::as_str) == claims.site.as_deref()
            && claims
                .locale
                .as_deref()
                .is_none_or(|locale| submission.locale.as_str() == locale)
            && context.assisted == claims.assisted;
        if matches {
            Ok(())
        } else {
            Err(InvitationError::Mismatch)
        }
    }
}

/// A secret from the environment, refused when it is too short to sign with.
pub fn configured_secret(secret: Secret) -> std::io::Result<Secret> {
    if secret.expose().len() < MIN_SECRET_LEN {
        return Err(std::io::Error::other(
            "TOUCHPOINT_INVITATION_SECRET must be at least 32 characters",
        ));
    }
    Ok(secret)
}

/// A secret for the store to keep: the one an earlier version kept in `data/invitation.key`,
/// so its links stay valid, or else a new one.
pub fn made_secret(data: &Path) -> std::io::Result<String> {
    let path = data.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= MIN_SECRET_LEN => Ok(text.trim().to_owned()),
        Ok(_) => Err(std::io::Error::other(format!(
            "{} is too short to be an invitation secret; remove it to make a new one",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(Secret::generate()?.expose().to_owned())
        }
        Err(e) => Err(e),
    }
}

/// The longest id of a short link: `/s/` and at most this many characters.
pub const LINK_ID_MAX: usize = 24;

/// A new short link's id: 15 random bytes in base64url, 20 characters (120 bits: nobody finds
/// another customer's link by guessing).
pub fn new_link_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 15];
    getrandom::getrandom(&mut bytes)
        .map_err(|_| std::io::Error::other("the system random source failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether the part after `/s/` is a short link's id rather than a token (which has a dot).
pub fn is_link_id(part: &str) -> bool {
    part.len() <= LINK_ID_MAX
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The QR code of `url`, as the customer's phone reads it.
fn qr_code(url: &str) -> Option<qrcode::QrCode> {
    qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M).ok()
}

/// The QR code of `url` as an SVG document.
pub fn qr_svg(url: &str) -> Option<String> {
    let code = qr_code(url)?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitations() -> Invitations {
        Invitations::new(
            Secret::new("a-test-secret-of-enough-length-0123".into()),
            60,
            vec![Secret::new("agent-key-1".into())],
        )
    }

    fn claims(expires_at: u64) -> Claims {
        Claims::new(
            "billing",
            "call-123",
            "a-7",
            Some("cards"),
            Some("fr"),
            expires_at,
        )
        .expect("valid claims")
    }

    /// The answer to `token` as the customer's page writes it (segment = the queue), with
    /// `extra_context` fields.
    fn answer(extra_context: &str, token: &str) -> Submission {
        answer_in(
            "fr",
            &[r#","segment":"cards""#, extra_context].concat(),
            token,
        )
    }

    fn answer_in(locale: &str, context: &str, token: &str) -> Submission {
        let body = format!(
            r#"{{"id":"0192f1a4-7b3c-7def-8a90-123456789abc","survey":{{"id":"core-cx","version":1}},"channel":"agent","touchpoint":"billing","answers":{{"effort":6}},"locale":"{locale}","context":{{"interaction_id":"call-123","agent_id":"a-7"{context},"invitation":"{token}"}},"submitted_at":"2026-11-22T10:00:00Z"}}"#
        );
        protocol::parse_submission(body.as_bytes()).expect("a valid submission")
    }

    /// Issue 13: an invitation binds the queue, site, locale and assisted capture too.
    #[test]
    fn issue_13_an_answer_keeps_to_the_queue_site_locale_and_capture_it_was_invited_for() {
        let inv = invitations();
        let at_site = claims(1_000).at_site(Some("branch-042")).expect("a site");
        let link = inv.issue(&at_site);
        let assist = inv.issue(&at_site.assisted());
        let site = r#","site_id":"branch-042""#;
        assert_eq!(inv.check(&answer(site, &link), 10), Ok(()));
        assert_eq!(
            inv.check(
                &answer(&[site, r#","assisted":true"#].concat(), &assist),
                10
            ),
            Ok(()),
            "assisted capture with its own token"
        );
        let mismatched = [
            answer_in(
                "fr",
                r#","segment":"mortgages","site_id":"branch-042""#,
                &link,
            ),
            answer_in("fr", r#","site_id":"branch-042""#, &link),
            answer(r#","site_id":"branch-043""#, &link),
            answer("", &link),
            answer_in("en", r#","segment":"cards","site_id":"branch-042""#, &link),
            answer(&[site, r#","assisted":true"#].concat(), &link),
            answer(site, &assist),
        ];
        for (n, wrong) in mismatched.iter().enumerate() {
            assert_eq!(
                inv.check(wrong, 10),
                Err(InvitationError::Mismatch),
                "case {n}"
            );
        }
        assert_eq!(
            Claims::new("b", "c", "a", None, None, 1)
                .and_then(|c| c.at_site(Some("a site")))
                .err(),
            Some("site")
        );
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_binds_its_claims() {
        let inv = invitations();
        let token = inv.issue(&claims(1_000));
        assert_eq!(inv.verify(&token, 999), Ok(claims(1_000)));
        assert_eq!(inv.verify(&token, 1_000), Err(InvitationError::Expired));
        assert!(protocol::InvitationToken::parse(&token).is_ok(), "{token}");
    }

    #[test]
    fn any_change_to_a_token_is_refused() {
        let inv = invitations();
        let token = inv.issue(&claims(1_000));
        let (payload, signature) = token.split_once('.').expect("two parts");
        // Claims rewritten by the customer (another interaction), signature kept.
        let forged_claims = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                interaction_id: "call-999".into(),
                ..claims(1_000)
            })
            .expect("json"),
        );
        let mut flipped = signature.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let other_secret = Invitations::new(
            Secret::new("another-secret-entirely-0123456789".into()),
            60,
            vec![],
        )
        .issue(&claims(1_000));
        for bad in [
            [forged_claims.as_str(), ".", signature].concat(),
            [payload, ".", std::str::from_utf8(&flipped).expect("ascii")].concat(),
            payload.to_owned(),
            [payload, "."].concat(),
            other_secret,
            "not.a-token".into(),
        ] {
            assert_eq!(inv.verify(&bad, 0), Err(InvitationError::Invalid), "{bad}");
        }
    }

    #[test]
    fn an_answer_must_match_the_call_its_invitation_binds() {
        let inv = invitations();
        let token = inv.issue(&claims(1_000));
        assert_eq!(inv.check(&answer("", &token), 10), Ok(()));
        let other_call = inv
            .issue(&Claims::new("billing", "call-124", "a-7", None, None, 1_000).expect("claims"));
        assert_eq!(
            inv.check(&answer("", &other_call), 10),
            Err(InvitationError::Mismatch)
        );
        let other_agent =
            inv.issue(&Claims::new("billing", "call-123", "a-8", None, None, 1_000).expect("ok"));
        assert_eq!(
            inv.check(&answer("", &other_agent), 10),
            Err(InvitationError::Mismatch)
        );
        assert_eq!(
            inv.check(&answer("", &token), 2_000),
            Err(InvitationError::Expired)
        );
    }

    #[test]
    fn where_required_an_agent_answer_needs_an_invitation() {
        let body = |channel: &str| {
            format!(
                r#"{{"id":"0192f1a4-7b3c-7def-8a90-123456789abc","survey":{{"id":"core-cx","version":1}},"channel":"{channel}","touchpoint":"billing","answers":{{"effort":6}},"locale":"en","context":{{"interaction_id":"call-123","agent_id":"a-9"}},"submitted_at":"2026-11-22T10:00:00Z"}}"#
            )
        };
        let agent = protocol::parse_submission(body("agent").as_bytes()).expect("valid");
        let web = protocol::parse_submission(body("web").as_bytes()).expect("valid");
        assert_eq!(invitations().check(&agent, 10), Ok(()));
        let strict = invitations().requiring(true);
        assert_eq!(strict.check(&agent, 10), Err(InvitationError::Required));
        assert_eq!(strict.check(&web, 10), Ok(()));
        let token = strict.issue(&claims(1_000));
        assert_eq!(strict.check(&answer("", &token), 10), Ok(()));
    }

    #[test]
    fn claims_follow_the_protocol_rules() {
        assert_eq!(
            Claims::new("bill ing", "c", "a", None, None, 1),
            Err("touchpoint")
        );
        assert_eq!(
            Claims::new("b", "c", "a", None, Some("pt"), 1),
            Err("locale")
        );
        assert_eq!(
            Claims::new("b", "c", "a", Some("a queue"), None, 1),
            Err("queue")
        );
    }

    #[test]
    fn agent_keys_and_the_admin_token_authorize() {
        let inv = invitations();
        let admin = Secret::new("admin-token".into());
        assert!(inv.authorizes("agent-key-1", Some(&admin)));
        assert!(inv.authorizes("admin-token", Some(&admin)));
        assert!(!inv.authorizes("agent-key-2", Some(&admin)));
        assert!(!inv.authorizes("", None));
    }

    #[test]
    fn a_kept_secret_file_is_taken_over_and_a_short_one_refused() {
        let dir = tempfile::tempdir().expect("a directory");
        let made = made_secret(dir.path()).expect("made");
        assert_eq!(made.len(), 64);
        assert!(!dir.path().join(KEY_FILE).exists(), "no file is written");
        std::fs::write(dir.path().join(KEY_FILE), "k".repeat(40)).expect("written");
        assert_eq!(made_secret(dir.path()).expect("read"), "k".repeat(40));
        std::fs::write(dir.path().join(KEY_FILE), "short").expect("written");
        assert!(made_secret(dir.path()).is_err());
    }

    #[test]
    fn a_short_configured_secret_is_refused_at_start() {
        assert!(configured_secret(Secret::new("too-short".into())).is_err());
        let long = "a".repeat(MIN_SECRET_LEN);
        assert!(configured_secret(Secret::new(long)).is_ok());
    }

    /// Issue 19: a link fits a text message with room for a sentence, and its QR code is small
    /// enough (version 4 or lower) for a phone to read at arm's length.
    #[test]
    fn issue_19_a_short_link_is_short_and_its_qr_code_small() {
        let id = new_link_id().expect("random");
        assert_eq!(id.len(), 20, "{id}");
        assert!(is_link_id(&id), "{id}");
        assert_ne!(id, new_link_id().expect("random"), "each link its own");
        let token = invitations().issue(&claims(1_000));
        assert!(!is_link_id(&token), "a token is not an id: {token}");
        assert!(!is_link_id(&"a".repeat(LINK_ID_MAX + 1)));
        assert!(!is_link_id("a/b"));
        // A bank's own collector host, as long as they come.
        let url = ["https://feedback.northbank-example.com/s/", &id].concat();
        assert!(url.len() <= 62, "{url}");
        let version = qr_code(&url).expect("fits").version();
        assert!(
            matches!(version, qrcode::Version::Normal(v) if v <= 4),
            "{version:?} for {url}"
        );
    }

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg = qr_svg("http://127.0.0.1:8080/s/abc.def").expect("fits");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }
}
