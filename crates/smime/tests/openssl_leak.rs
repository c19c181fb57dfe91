//! Regression test for a leak the `incoming` fuzz target found under
//! LeakSanitizer (`RUSTC_BOOTSTRAP=1 cargo fuzz run incoming`, see
//! `docs/robustness.md`): OpenSSL 3.0's `CMS_verify`, given detached
//! content in binary mode, leaks its copy of the content (a memory BIO)
//! when it cannot set up the digests the signed-data lists. Every such
//! incoming message leaked, so anyone could grow the service's memory by
//! sending them. `verify` now checks the digests first.
//!
//! Its own test binary: OpenSSL's allocator must be replaced before
//! OpenSSL allocates anything, and then counts every live allocation.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicIsize, Ordering};

use smime::trust::TrustStore;
use smime::verify::{SignCode, verify};
use testpki::files;

mod common;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe extern "C" {
    fn CRYPTO_set_mem_functions(
        m: unsafe extern "C" fn(usize, *const c_char, c_int) -> *mut c_void,
        r: unsafe extern "C" fn(*mut c_void, usize, *const c_char, c_int) -> *mut c_void,
        f: unsafe extern "C" fn(*mut c_void, *const c_char, c_int),
    ) -> c_int;
    fn malloc(size: usize) -> *mut c_void;
    fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
}

unsafe extern "C" fn counting_malloc(n: usize, _: *const c_char, _: c_int) -> *mut c_void {
    // SAFETY: plain libc malloc.
    let p = unsafe { malloc(n.max(1)) };
    if !p.is_null() {
        LIVE.fetch_add(1, Ordering::SeqCst);
    }
    p
}

unsafe extern "C" fn counting_realloc(
    p: *mut c_void,
    n: usize,
    file: *const c_char,
    line: c_int,
) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as above.
        return unsafe { counting_malloc(n, file, line) };
    }
    if n == 0 {
        // SAFETY: `p` came from these functions.
        unsafe { counting_free(p, file, line) };
        return std::ptr::null_mut();
    }
    // SAFETY: `p` came from libc malloc or realloc.
    unsafe { realloc(p, n) }
}

unsafe extern "C" fn counting_free(p: *mut c_void, _: *const c_char, _: c_int) {
    if !p.is_null() {
        LIVE.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: `p` came from libc malloc or realloc.
        unsafe { free(p) };
    }
}

/// A detached signature by alice whose SignedData digestAlgorithms set
/// names a digest OpenSSL does not know, while the SignerInfo keeps
/// SHA-256: the signed attributes verify, then the digest set-up fails.
fn signature_with_unknown_digest() -> (Vec<u8>, Vec<u8>) {
    let entity = b"Content-Type: text/plain\r\n\r\nhello\r\n".to_vec();
    let mut der = common::detached_signature(
        &entity,
        &common::certificate(files::ALICE),
        &common::key(files::ALICE_KEY),
        &[],
    );
    // id-sha256 (2.16.840.1.101.3.4.2.1): the first one is in digestAlgorithms.
    let sha256 = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let at = der.windows(sha256.len()).position(|w| w == sha256).unwrap();
    der[at + sha256.len() - 1] = 0x7f;
    (entity, der)
}

#[test]
fn unknown_digest_in_detached_signature_leaks_nothing() {
    // SAFETY: the three functions match OpenSSL's allocator signatures and
    // are installed before OpenSSL allocates anything in this process.
    let installed =
        unsafe { CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free) };
    assert_eq!(installed, 1, "OpenSSL allocated before the test started");

    let (entity, der) = signature_with_unknown_digest();
    let trust = TrustStore::new([]);
    let policy = smime::Policy::now();
    let check = || verify(&der, Some(&entity), &trust, None, &policy).0;
    let first = check();
    assert_eq!(first.code, SignCode::UnsupportedAlgorithm, "{first:?}");

    for _ in 0..10 {
        check();
    }
    let before = LIVE.load(Ordering::SeqCst);
    for _ in 0..200 {
        check();
    }
    let grown = LIVE.load(Ordering::SeqCst) - before;
    assert!(
        grown < 20,
        "{grown} OpenSSL allocations are still live after 200 checks"
    );
}
