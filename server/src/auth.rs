//! Passwords: argon2 hashes in the configuration, never plain text; repeated failures from one
//! address are answered more and more slowly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A PHC string (`$argon2id$v=19$...`) for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `hash`. A malformed hash matches nothing.
pub(crate) fn verify_password(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash)
        .is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
}

/// The cost of a login for a user that does not exist: the same argon2 verification, against a
/// hash of a password nobody knows, so that the answer's timing does not tell which user names
/// exist. Always false.
pub(crate) fn verify_unknown_user(password: &[u8]) -> bool {
    static NOBODY: LazyLock<String> = LazyLock::new(|| {
        let secret: String = (0..32)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect();
        hash_password(&secret).unwrap_or_default()
    });
    let _ = verify_password(password, &NOBODY);
    false
}

/// How long to wait before answering a connection from an address with recent failures.
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// Recent authentication failures per address.
#[derive(Default)]
pub(crate) struct Failures {
    by_addr: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Failures {
    /// The delay owed before answering `addr`: none at first, then doubling per failure.
    pub(crate) fn delay(&self, addr: IpAddr) -> Duration {
        let map = self.by_addr.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&addr) {
            Some((n, at)) if at.elapsed() < FORGET_AFTER && *n > 0 => FIRST_DELAY
                .saturating_mul(1 << (n - 1).min(5))
                .min(MAX_DELAY),
            _ => Duration::ZERO,
        }
    }

    pub(crate) fn failed(&self, addr: IpAddr) {
        let mut map = self.by_addr.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (_, at)| at.elapsed() < FORGET_AFTER);
        }
        let entry = map.entry(addr).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 += 1;
        entry.1 = Instant::now();
    }

    pub(crate) fn succeeded(&self, addr: IpAddr) {
        self.by_addr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("sesame").unwrap();
        let b = hash_password("sesame").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password(b"sesame", &a));
        assert!(!verify_password(b"Sesame", &a));
        assert!(!verify_password(b"sesame", "not a hash"));
        assert!(!verify_unknown_user(b"sesame"));
        assert!(!verify_unknown_user(b""));
    }

    #[test]
    fn failures_slow_down_one_address() {
        let f = Failures::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert_eq!(f.delay(ip), Duration::ZERO);
        f.failed(ip);
        assert_eq!(f.delay(ip), FIRST_DELAY);
        f.failed(ip);
        assert_eq!(f.delay(ip), FIRST_DELAY * 2);
        assert_eq!(f.delay([10, 0, 0, 2].into()), Duration::ZERO);
        f.succeeded(ip);
        assert_eq!(f.delay(ip), Duration::ZERO);
    }
}
