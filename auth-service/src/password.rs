//! Password hashing with argon2id, on a few dedicated threads behind a bounded queue, never
//! on the async workers.

mod hasher;

pub use hasher::{HashingBusy, PasswordHasher};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

/// Memory cost in KiB: OWASP's first recommended argon2id configuration (19 MiB, t=2, p=1).
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations, per the same recommendation.
pub const ITERATIONS: u32 = 2;
/// Lanes, per the same recommendation.
pub const PARALLELISM: u32 = 1;

/// Bytes of the hash stored in the PHC string (the argon2 crate's default).
const OUTPUT_BYTES: usize = 32;
/// Bytes of random salt per password (RFC 9106 recommends 16).
const SALT_BYTES: usize = 16;
/// Largest memory cost accepted from a stored hash, in KiB, so a tampered row cannot make
/// one verification allocate without bound.
const MAX_STORED_MEMORY_KIB: u32 = 256 * 1024;

thread_local! {
    /// Each hashing thread's argon2 working memory, allocated on first use and reused for
    /// every hash after: no 19 MiB allocation per login for an allocator to hold on to.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2id with `params` on this thread's reused working memory.
fn argon2id(params: Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> anyhow::Result<()> {
    let needed = params.block_count();
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    BLOCKS.with(|blocks| {
        let mut blocks = blocks.borrow_mut();
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        hasher
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
}

fn params(
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    output: usize,
) -> anyhow::Result<Params> {
    Params::new(memory_kib, iterations, parallelism, Some(output))
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))
}

/// Hashes `password` with a fresh random salt into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), on the calling thread.
pub fn hash_blocking(password: &SecretString) -> anyhow::Result<String> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let mut out = [0u8; OUTPUT_BYTES];
    let cost = params(MEMORY_KIB, ITERATIONS, PARALLELISM, OUTPUT_BYTES)?;
    argon2id(cost, password.expose_secret().as_bytes(), &salt, &mut out)?;
    Ok(format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={ITERATIONS},p={PARALLELISM}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Whether `password` matches the argon2id PHC string `phc`, on the calling thread. The
/// comparison takes the same time wherever the first difference is.
pub fn verify_blocking(password: &SecretString, phc: &str) -> anyhow::Result<bool> {
    let malformed = || anyhow::anyhow!("stored password hash is malformed");
    let fields: Vec<&str> = phc.split('$').collect();
    let ["", "argon2id", "v=19", cost, salt, expected] = fields.as_slice() else {
        return Err(malformed());
    };
    let mut m = None;
    let mut t = None;
    let mut p = None;
    for pair in cost.split(',') {
        let (key, value) = pair.split_once('=').ok_or_else(malformed)?;
        let value: u32 = value.parse().map_err(|_| malformed())?;
        match key {
            "m" => m = Some(value),
            "t" => t = Some(value),
            "p" => p = Some(value),
            _ => return Err(malformed()),
        }
    }
    let (Some(m), Some(t), Some(p)) = (m, t, p) else {
        return Err(malformed());
    };
    if m > MAX_STORED_MEMORY_KIB {
        return Err(malformed());
    }
    let salt = STANDARD_NO_PAD.decode(salt).map_err(|_| malformed())?;
    let expected = STANDARD_NO_PAD.decode(expected).map_err(|_| malformed())?;
    let mut out = vec![0u8; expected.len()];
    argon2id(
        params(m, t, p, expected.len())?,
        password.expose_secret().as_bytes(),
        &salt,
        &mut out,
    )?;
    Ok(out
        .iter()
        .zip(&expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_hasher() -> PasswordHasher {
        PasswordHasher::new(1, 8, std::time::Duration::from_secs(1))
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let hash = hash_blocking(&SecretString::from("correct horse")).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let hasher = test_hasher();
        assert!(
            hasher
                .verify("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("correct horse ".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!hasher.verify("".into(), hash).await.unwrap());
    }

    #[test]
    fn our_hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let ours = hash_blocking(&SecretString::from("interop")).unwrap();
        let parsed = argon2::PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"interop", &parsed)
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(b"interop")
            .unwrap()
            .to_string();
        assert!(verify_blocking(&SecretString::from("interop"), &theirs).unwrap());
        assert!(!verify_blocking(&SecretString::from("interop!"), &theirs).unwrap());
    }

    #[test]
    fn a_stored_hash_cannot_demand_unbounded_memory() {
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(verify_blocking(&SecretString::from("x"), greedy).is_err());
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ_by_salt() {
        let a = hash_blocking(&SecretString::from("pw")).unwrap();
        let b = hash_blocking(&SecretString::from("pw")).unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_malformed_hash_is_an_error_not_a_match() {
        let hasher = test_hasher();
        assert!(
            hasher
                .verify("pw".into(), "not-a-hash".into())
                .await
                .is_err()
        );
    }
}
