//! Password hashing: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane). Hashing
//! is slow on purpose, so it runs on the blocking pool, a few at a time (each holds 19 MiB;
//! a burst of sign-ins must not take the machine's memory).
//!
//! Each hashing turn carries one of `CONCURRENT_HASHES` memory buffers, made once and
//! handed from turn to turn: argon2 fills the caller's memory instead of allocating its
//! own, so a flood of sign-ins reuses the same few buffers. (Allocating 19 MiB per check
//! on whichever blocking thread ran it left the blocks in glibc's per-thread arenas: a
//! thousand failed sign-ins held over a gigabyte.)

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use base64::Engine;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::AccountsError;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 1024;

pub(crate) const CONCURRENT_HASHES: usize = 2;

/// Of those turns, sign-ups hold at most this many at once: the others stay for sign-ins,
/// so a flood of sign-ups from many addresses never queues a member's sign-in behind it.
pub(crate) const SIGN_UP_HASHES: usize = 1;

/// 19 MiB = 19456 KiB.
const MEMORY_KIB: u32 = 19 * 1024;

fn params() -> Params {
    // The parameters are constant and valid.
    Params::new(MEMORY_KIB, 2, 1, None).expect("valid argon2 parameters")
}

/// Refuses passwords too short to resist guessing or so long that hashing them is a cost
/// to the server.
pub fn check_new(password: &str) -> Result<(), AccountsError> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(AccountsError::Invalid(format!(
            "the password is too short: at least {MIN_CHARS} characters"
        )));
    }
    if n > MAX_CHARS {
        return Err(AccountsError::Invalid(format!(
            "the password is too long: at most {MAX_CHARS} characters"
        )));
    }
    Ok(())
}

/// The start of every hash made with today's algorithm and parameters.
const CURRENT_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// A hash made with other parameters (older, weaker) is replaced at the next sign-in, the
/// one moment the password is known.
pub fn needs_rehash(stored: &str) -> bool {
    !stored.starts_with(CURRENT_PREFIX)
}

/// Argon2's working memory: one buffer per hashing turn, reused.
pub struct Memory(Box<[Block]>);

impl Memory {
    /// A buffer of today's size, outside the pool (the dummy hash, tests).
    pub fn standalone() -> Memory {
        Memory(vec![Block::new(); params().block_count()].into_boxed_slice())
    }

    /// Where the buffer lives (tests check that turns hand back the same ones).
    pub fn address(&self) -> usize {
        self.0.as_ptr() as usize
    }
}

/// The turns' buffers made since start: never more than `CONCURRENT_HASHES`.
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

pub fn buffers_allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

fn pool() -> &'static Mutex<Vec<Memory>> {
    static POOL: Mutex<Vec<Memory>> = Mutex::new(Vec::new());
    &POOL
}

/// Argon2 in `memory`, with `params`; a hash with a larger memory cost than the buffer
/// (none made by this server) gets a buffer of its own for this one check.
fn argon2_into(
    memory: &mut Memory,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let hasher = Argon2::new(algorithm, version, params.clone());
    if params.block_count() > memory.0.len() {
        let mut own = vec![Block::new(); params.block_count()];
        return hasher.hash_password_into_with_memory(password, salt, out, &mut own[..]);
    }
    hasher.hash_password_into_with_memory(password, salt, out, &mut memory.0[..])
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`); `salt` comes from the caller.
pub fn hash_blocking(
    memory: &mut Memory,
    password: &str,
    salt: &[u8; 16],
) -> Result<String, AccountsError> {
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        memory,
        Algorithm::Argon2id,
        Version::V0x13,
        params(),
        password.as_bytes(),
        salt,
        &mut out,
    )
    .map_err(|e| AccountsError::Hashing(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    Ok(format!(
        "{CURRENT_PREFIX}{}${}",
        b64.encode(salt),
        b64.encode(out)
    ))
}

/// True when `password` matches `stored`. `stored = None` (no such account, or one with no
/// password) checks against a hash of a random password, so the answer takes as long as a
/// real check and says nothing about who has an account.
pub fn verify_blocking(memory: &mut Memory, password: &str, stored: Option<&str>) -> bool {
    let started = Instant::now();
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy_hash(memory), false),
    };
    let ok = verify_phc(memory, password, hash).unwrap_or(false);
    note_check_time(started.elapsed());
    ok && real
}

/// `None` for a stored string that is not an argon2 PHC hash.
fn verify_phc(memory: &mut Memory, password: &str, stored: &str) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).ok()?;
    let salt = parsed.salt?;
    let expected = parsed.hash?;
    let mut out = vec![0u8; expected.as_bytes().len()];
    argon2_into(
        memory,
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
    )
    .ok()?;
    let differs = out
        .iter()
        .zip(expected.as_bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    Some(differs == 0)
}

/// Made once, in the caller's memory (no buffer of its own).
fn dummy_hash(memory: &mut Memory) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let password = super::secret::Secret::generate().encode();
        hash_blocking(memory, &password, &rand::random()).expect("argon2 hashes a short password")
    })
}

/// How long a check takes here, about (a moving average, in microseconds): an answer that
/// skips the check waits this long, so its timing looks like one that did not.
static TYPICAL_CHECK_MICROS: AtomicU64 = AtomicU64::new(50_000);

fn note_check_time(took: Duration) {
    let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let old = TYPICAL_CHECK_MICROS.load(Ordering::Relaxed);
    TYPICAL_CHECK_MICROS.store(old - old / 8 + took / 8, Ordering::Relaxed);
}

/// Waits about as long as a password check takes, without checking anything (and without
/// a hashing turn).
pub async fn wait_like_a_check() {
    let micros = TYPICAL_CHECK_MICROS.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// The budget of checks against the dummy hash (emails with no account), for the whole
/// server: a token bucket of `DUMMY_BURST` checks refilled at `DUMMY_PER_SEC`. Past it, an
/// unknown email is refused without argon2 (after `wait_like_a_check`), so made-up emails
/// cannot keep the hashing turns busy.
pub const DUMMY_BURST: f64 = 20.0;
pub const DUMMY_PER_SEC: f64 = 5.0;

struct Bucket {
    tokens: f64,
    at: Option<Instant>,
}

/// Takes one dummy check from the budget; false when it is spent.
pub fn take_dummy_check() -> bool {
    static BUCKET: Mutex<Bucket> = Mutex::new(Bucket {
        tokens: DUMMY_BURST,
        at: None,
    });
    let mut b = BUCKET.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    if let Some(at) = b.at {
        let refill = now.duration_since(at).as_secs_f64() * DUMMY_PER_SEC;
        b.tokens = (b.tokens + refill).min(DUMMY_BURST);
    }
    b.at = Some(now);
    if b.tokens >= 1.0 {
        b.tokens -= 1.0;
        true
    } else {
        false
    }
}

fn permits() -> &'static Semaphore {
    static PERMITS: Semaphore = Semaphore::const_new(CONCURRENT_HASHES);
    &PERMITS
}

/// Sign-ups wait here first, so at most `SIGN_UP_HASHES` of them ever wait for or hold a
/// hashing permit: a sign-in asking for a turn has at most that many sign-ups ahead of it.
fn sign_up_permits() -> &'static Semaphore {
    static PERMITS: Semaphore = Semaphore::const_new(SIGN_UP_HASHES);
    &PERMITS
}

/// Sign-up turns granted since start.
static SIGN_UP_TURNS: AtomicU64 = AtomicU64::new(0);
/// The most sign-up turns granted while one sign-in waited for its turn.
static MOST_SIGN_UPS_AHEAD: AtomicU64 = AtomicU64::new(0);

/// The most sign-up hashing turns that were granted while one sign-in waited for its own
/// (also `marquee_sign_in_most_sign_up_turns_ahead`).
pub fn most_sign_ups_ahead_of_a_sign_in() -> u64 {
    MOST_SIGN_UPS_AHEAD.load(Ordering::SeqCst)
}

/// What a turn holds: the permit and the memory. Dropping it (also on a blocking thread
/// whose caller went away) puts the memory back before the permit frees, so there are
/// never more buffers than permits.
struct Held {
    memory: Option<Memory>,
    _permit: SemaphorePermit<'static>,
    /// A sign-up's place among `SIGN_UP_HASHES`, freed with the permit.
    _sign_up: Option<SemaphorePermit<'static>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(memory) = self.memory.take() {
            pool()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(memory);
        }
    }
}

/// One of the few hashing slots, with its memory. Sign-in holds it from the throttle check
/// to recording the outcome, so a burst of parallel guesses cannot all pass the check
/// before the first failure is counted.
pub struct HashingTurn(Option<Held>);

/// A turn for a sign-in (or any hashing but a sign-up's).
pub async fn turn() -> Result<HashingTurn, AccountsError> {
    let sign_ups_before = SIGN_UP_TURNS.load(Ordering::SeqCst);
    let permit = acquire(permits()).await?;
    let ahead = SIGN_UP_TURNS.load(Ordering::SeqCst) - sign_ups_before;
    let most = MOST_SIGN_UPS_AHEAD
        .fetch_max(ahead, Ordering::SeqCst)
        .max(ahead);
    let metrics = crate::metrics::global();
    metrics.sign_up_turns_ahead_of_sign_in(most);
    metrics.hashing_turn(false);
    Ok(held(permit, None))
}

/// A turn for a self sign-up: first a place among the `SIGN_UP_HASHES`, then a permit.
pub async fn sign_up_turn() -> Result<HashingTurn, AccountsError> {
    let place = acquire(sign_up_permits()).await?;
    let permit = acquire(permits()).await?;
    SIGN_UP_TURNS.fetch_add(1, Ordering::SeqCst);
    crate::metrics::global().hashing_turn(true);
    Ok(held(permit, Some(place)))
}

async fn acquire(permits: &'static Semaphore) -> Result<SemaphorePermit<'static>, AccountsError> {
    permits
        .acquire()
        .await
        .map_err(|_| AccountsError::Hashing("the hashing pool is closed".into()))
}

fn held(
    permit: SemaphorePermit<'static>,
    sign_up: Option<SemaphorePermit<'static>>,
) -> HashingTurn {
    let memory = pool().lock().unwrap_or_else(|e| e.into_inner()).pop();
    HashingTurn(Some(Held {
        memory: Some(memory.unwrap_or_else(|| {
            ALLOCATED.fetch_add(1, Ordering::Relaxed);
            Memory::standalone()
        })),
        _permit: permit,
        _sign_up: sign_up,
    }))
}

impl HashingTurn {
    /// Runs `work` with the turn's memory on the blocking pool; the turn (permit and
    /// memory) travels with it and comes back when it is done.
    async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, AccountsError> {
        let mut held = self
            .0
            .take()
            .ok_or_else(|| AccountsError::Hashing("the hashing turn was lost".into()))?;
        let (held, out) = tokio::task::spawn_blocking(move || {
            let memory = held.memory.as_mut().expect("a turn holds its memory");
            let out = work(memory);
            (held, out)
        })
        .await
        .map_err(|_| AccountsError::Hashing("the hashing task was cancelled".into()))?;
        self.0 = Some(held);
        Ok(out)
    }
}

pub async fn hash(password: String) -> Result<String, AccountsError> {
    let mut turn = turn().await?;
    hash_in_turn(&mut turn, password).await
}

/// Hashes in the caller's turn (a second turn could deadlock against other sign-ins).
pub async fn hash_in_turn(
    turn: &mut HashingTurn,
    password: String,
) -> Result<String, AccountsError> {
    let salt: [u8; 16] = rand::random();
    turn.run(move |memory| hash_blocking(memory, &password, &salt))
        .await?
}

/// Verifies in the caller's turn (see `HashingTurn`).
pub async fn verify(
    turn: &mut HashingTurn,
    password: String,
    stored: Option<String>,
) -> Result<bool, AccountsError> {
    turn.run(move |memory| verify_blocking(memory, &password, stored.as_deref()))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let m = &mut Memory::standalone();
        let h = hash_blocking(m, "correct horse battery", &[1; 16]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!needs_rehash(&h));
        assert!(needs_rehash("$argon2id$v=19$m=8192,t=1,p=1$c2FsdA$aGFzaA"));
        assert!(verify_blocking(m, "correct horse battery", Some(&h)));
        assert!(!verify_blocking(m, "correct horse batterx", Some(&h)));
        // A different salt, a different hash.
        assert_ne!(
            h,
            hash_blocking(m, "correct horse battery", &[2; 16]).unwrap()
        );
        assert!(!verify_blocking(m, "anything at all", Some("not a hash")));
    }

    #[test]
    fn the_same_phc_string_as_the_argon2_crate_makes() {
        use argon2::PasswordHasher;
        let ours =
            hash_blocking(&mut Memory::standalone(), "correct horse battery", &[3; 16]).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password_with_salt(b"correct horse battery", &[3; 16])
            .unwrap()
            .to_string();
        assert_eq!(ours, theirs);
        // And a hash with other parameters, made by the crate, verifies in our memory.
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"correct horse battery", &[9; 16])
        .unwrap()
        .to_string();
        let m = &mut Memory::standalone();
        assert!(verify_blocking(m, "correct horse battery", Some(&weak)));
        assert!(!verify_blocking(m, "correct horse batterz", Some(&weak)));
    }

    #[test]
    fn unknown_accounts_never_verify() {
        assert!(!verify_blocking(
            &mut Memory::standalone(),
            "correct horse battery",
            None
        ));
    }

    /// The memory behind a flood of checks: the same `CONCURRENT_HASHES` buffers, handed
    /// from turn to turn, never one per check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn turns_reuse_the_same_few_buffers() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        let checks: Vec<_> = (0..12)
            .map(|i| {
                let stored = stored.clone();
                tokio::spawn(async move {
                    let mut turn = turn().await.unwrap();
                    let at = turn.0.as_ref().unwrap().memory.as_ref().unwrap().address();
                    let ok = verify(&mut turn, format!("guess {i}"), Some(stored))
                        .await
                        .unwrap();
                    assert!(!ok);
                    // The same buffer comes back from the blocking thread.
                    assert_eq!(
                        at,
                        turn.0.as_ref().unwrap().memory.as_ref().unwrap().address()
                    );
                    at
                })
            })
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for check in checks {
            seen.insert(check.await.unwrap());
        }
        // Other tests in this binary take turns too, and the buffers they use are the
        // same pooled ones: never more than one per permit, however many checks ran.
        assert!(
            seen.len() <= CONCURRENT_HASHES,
            "{} buffers for 12 checks",
            seen.len()
        );
        assert!(
            (1..=CONCURRENT_HASHES).contains(&buffers_allocated()),
            "{} buffers allocated",
            buffers_allocated()
        );
    }

    #[test]
    fn the_dummy_budget_runs_out_and_refills() {
        // Drain whatever is left, then nothing until time passes.
        while take_dummy_check() {}
        assert!(!take_dummy_check());
        // A second refills several checks (other tests may take one meanwhile).
        std::thread::sleep(Duration::from_millis(1200));
        assert!(take_dummy_check());
    }

    #[test]
    fn length_rules() {
        assert!(check_new("short").is_err());
        assert!(check_new(&"x".repeat(11)).is_err());
        assert!(check_new(&"x".repeat(12)).is_ok());
        // Characters, not bytes.
        assert!(check_new(&"é".repeat(12)).is_ok());
        assert!(check_new(&"x".repeat(1024)).is_ok());
        assert!(check_new(&"x".repeat(1025)).is_err());
    }
}
