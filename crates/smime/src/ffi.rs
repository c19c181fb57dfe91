//! The only `unsafe` code of the crate: OpenSSL calls the `openssl` crate
//! does not wrap (signer extraction, RSA-OAEP recipients, signing times,
//! recipient matching). Each function is a small safe wrapper; every
//! pointer it hands to OpenSSL is borrowed for the call only, and every
//! object OpenSSL hands back is owned by exactly one Rust value.

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};
use std::ptr;

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::cms::{CMSOptions, CmsContentInfo, CmsContentInfoRef};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKeyRef, Private};
use openssl::stack::StackRef;
use openssl::symm::Cipher;
use openssl::x509::{X509, X509Ref};
use openssl_sys as sys;

#[allow(non_camel_case_types)]
enum CMS_SignerInfo {}
#[allow(non_camel_case_types)]
enum CMS_RecipientInfo {}
#[allow(non_camel_case_types)]
enum X509_ATTRIBUTE {}
#[allow(non_camel_case_types)]
enum CMS_RecipientEncryptedKey {}
#[allow(non_camel_case_types)]
enum X509_PUBKEY {}

unsafe extern "C" {
    fn CMS_final(
        cms: *mut sys::CMS_ContentInfo,
        data: *mut sys::BIO,
        dcont: *mut sys::BIO,
        flags: c_uint,
    ) -> c_int;
    fn CMS_get0_signers(cms: *mut sys::CMS_ContentInfo) -> *mut sys::stack_st_X509;
    fn CMS_get1_certs(cms: *mut sys::CMS_ContentInfo) -> *mut sys::stack_st_X509;
    fn CMS_get0_type(cms: *const sys::CMS_ContentInfo) -> *const sys::ASN1_OBJECT;
    fn CMS_dataInit(cms: *mut sys::CMS_ContentInfo, icont: *mut sys::BIO) -> *mut sys::BIO;
    fn CMS_encrypt(
        certs: *mut sys::stack_st_X509,
        data: *mut sys::BIO,
        cipher: *const sys::EVP_CIPHER,
        flags: c_uint,
    ) -> *mut sys::CMS_ContentInfo;
    fn CMS_add1_recipient_cert(
        cms: *mut sys::CMS_ContentInfo,
        recip: *mut sys::X509,
        flags: c_uint,
    ) -> *mut CMS_RecipientInfo;
    fn CMS_RecipientInfo_get0_pkey_ctx(ri: *mut CMS_RecipientInfo) -> *mut sys::EVP_PKEY_CTX;
    fn EVP_PKEY_CTX_set_rsa_oaep_md(ctx: *mut sys::EVP_PKEY_CTX, md: *const sys::EVP_MD) -> c_int;
    fn EVP_PKEY_CTX_set_rsa_mgf1_md(ctx: *mut sys::EVP_PKEY_CTX, md: *const sys::EVP_MD) -> c_int;
    fn CMS_get0_SignerInfos(cms: *mut sys::CMS_ContentInfo) -> *mut sys::OPENSSL_STACK;
    fn X509_get_X509_PUBKEY(x: *const sys::X509) -> *mut X509_PUBKEY;
    fn i2d_X509_PUBKEY(a: *const X509_PUBKEY, out: *mut *mut u8) -> c_int;
    fn CMS_get0_RecipientInfos(cms: *mut sys::CMS_ContentInfo) -> *mut sys::OPENSSL_STACK;
    fn CMS_RecipientInfo_type(ri: *mut CMS_RecipientInfo) -> c_int;
    fn CMS_RecipientInfo_ktri_cert_cmp(ri: *mut CMS_RecipientInfo, cert: *mut sys::X509) -> c_int;
    fn CMS_RecipientInfo_kari_get0_reks(ri: *mut CMS_RecipientInfo) -> *mut sys::OPENSSL_STACK;
    fn CMS_RecipientEncryptedKey_cert_cmp(
        rek: *mut CMS_RecipientEncryptedKey,
        cert: *mut sys::X509,
    ) -> c_int;
    fn CMS_signed_get_attr_by_NID(si: *const CMS_SignerInfo, nid: c_int, lastpos: c_int) -> c_int;
    fn CMS_signed_get_attr(si: *const CMS_SignerInfo, loc: c_int) -> *mut X509_ATTRIBUTE;
    fn X509_ATTRIBUTE_get0_data(
        attr: *mut X509_ATTRIBUTE,
        idx: c_int,
        atrtype: c_int,
        data: *mut c_void,
    ) -> *mut c_void;
}

const CMS_RECIPINFO_TRANS: c_int = 0;
const CMS_RECIPINFO_AGREE: c_int = 1;
const V_ASN1_UTCTIME: c_int = 23;
const V_ASN1_GENERALIZEDTIME: c_int = 24;

fn cvt_p<T>(p: *mut T) -> Result<*mut T, ErrorStack> {
    if p.is_null() {
        Err(ErrorStack::get())
    } else {
        Ok(p)
    }
}

fn cvt(r: c_int) -> Result<(), ErrorStack> {
    if r <= 0 {
        Err(ErrorStack::get())
    } else {
        Ok(())
    }
}

/// A read-only memory BIO over `data`, freed on drop.
struct MemBio<'a>(*mut sys::BIO, std::marker::PhantomData<&'a [u8]>);

impl<'a> MemBio<'a> {
    fn new(data: &'a [u8]) -> Result<Self, ErrorStack> {
        let len = c_int::try_from(data.len()).map_err(|_| ErrorStack::get())?;
        // SAFETY: the BIO reads `data`, which outlives it ('a).
        let bio = cvt_p(unsafe { sys::BIO_new_mem_buf(data.as_ptr().cast(), len) })?;
        Ok(MemBio(bio, std::marker::PhantomData))
    }
}

impl Drop for MemBio<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the BIO.
        unsafe { sys::BIO_free_all(self.0) };
    }
}

/// A write-only BIO that appends what OpenSSL writes to a `Vec`: the
/// content of a decryption or verification lands in its buffer once,
/// where a memory BIO would grow by reallocation and then be copied out.
struct VecSink<'v> {
    bio: *mut sys::BIO,
    _out: std::marker::PhantomData<&'v mut Vec<u8>>,
}

/// The sink's BIO method, made once for the process.
struct SinkMethod(*mut sys::BIO_METHOD);
// SAFETY: the method table is written once, before it is shared, and only
// read after that.
unsafe impl Send for SinkMethod {}
// SAFETY: as above.
unsafe impl Sync for SinkMethod {}

fn sink_method() -> Result<*mut sys::BIO_METHOD, ErrorStack> {
    static METHOD: std::sync::OnceLock<Option<SinkMethod>> = std::sync::OnceLock::new();
    let method = METHOD.get_or_init(|| {
        // SAFETY: a new method table, filled before anyone else sees it; it
        // lives for the process.
        unsafe {
            let m = sys::BIO_meth_new(0, c"smimed vec sink".as_ptr());
            if m.is_null()
                || sys::BIO_meth_set_write__fixed_rust(m, Some(sink_write)) <= 0
                || sys::BIO_meth_set_ctrl__fixed_rust(m, Some(sink_ctrl)) <= 0
            {
                return None;
            }
            Some(SinkMethod(m))
        }
    });
    match method {
        Some(m) => Ok(m.0),
        None => Err(ErrorStack::get()),
    }
}

/// # Safety
/// Called by OpenSSL on a BIO made by [`VecSink::new`], whose data is the
/// `Vec` it borrows, with `len` readable bytes at `buf`.
unsafe extern "C" fn sink_write(bio: *mut sys::BIO, buf: *const c_char, len: c_int) -> c_int {
    // SAFETY: guaranteed by the caller; the Vec outlives the BIO.
    unsafe {
        let out = sys::BIO_get_data(bio).cast::<Vec<u8>>();
        if out.is_null() || len < 0 || (buf.is_null() && len > 0) {
            return -1;
        }
        if len > 0 {
            (*out).extend_from_slice(std::slice::from_raw_parts(buf.cast::<u8>(), len as usize));
        }
        len
    }
}

/// # Safety
/// Called by OpenSSL; touches neither the BIO nor `_ptr`. Only a flush
/// succeeds (there is nothing to flush); every other control is refused.
unsafe extern "C" fn sink_ctrl(
    _bio: *mut sys::BIO,
    cmd: c_int,
    _num: c_long,
    _ptr: *mut c_void,
) -> c_long {
    c_long::from(cmd == sys::BIO_CTRL_FLUSH)
}

impl<'v> VecSink<'v> {
    fn new(out: &'v mut Vec<u8>) -> Result<Self, ErrorStack> {
        let method = sink_method()?;
        // SAFETY: a new BIO of our method; its data points at `out`, which
        // the PhantomData keeps borrowed for the BIO's life.
        unsafe {
            let bio = cvt_p(sys::BIO_new(method))?;
            sys::BIO_set_data(bio, (out as *mut Vec<u8>).cast());
            sys::BIO_set_init(bio, 1);
            Ok(VecSink {
                bio,
                _out: std::marker::PhantomData,
            })
        }
    }
}

impl Drop for VecSink<'_> {
    fn drop(&mut self) {
        // SAFETY: we own the BIO; its data is borrowed, not freed.
        unsafe { sys::BIO_free_all(self.bio) };
    }
}

/// `CMS_verify`: detached content read where it lies, and the content
/// written to `out` only when asked for (the `openssl` crate's `verify`
/// always copies it into a memory BIO).
pub(crate) fn verify(
    cms: &CmsContentInfoRef,
    certs: Option<&StackRef<X509>>,
    detached: Option<&[u8]>,
    out: Option<&mut Vec<u8>>,
    flags: CMSOptions,
) -> Result<(), ErrorStack> {
    let dcont = detached.map(MemBio::new).transpose()?;
    let sink = out.map(VecSink::new).transpose()?;
    // SAFETY: every pointer is valid for the call: `cms` and `certs` are
    // borrowed, the BIOs are ours and freed on drop after it.
    unsafe {
        cvt(sys::CMS_verify(
            cms.as_ptr(),
            certs.map_or(ptr::null_mut(), |c| c.as_ptr()),
            ptr::null_mut(),
            dcont.as_ref().map_or(ptr::null_mut(), |b| b.0),
            sink.as_ref().map_or(ptr::null_mut(), |s| s.bio),
            flags.bits(),
        ))
    }
}

/// `CMS_decrypt` with `key` for `cert`, as the `openssl` crate calls it,
/// but with the encrypted content given apart when the envelope was
/// parsed without it (`detached`), and the plain text written straight
/// into the result.
pub(crate) fn decrypt(
    cms: &CmsContentInfoRef,
    key: &PKeyRef<Private>,
    cert: &X509Ref,
    detached: Option<&[u8]>,
) -> Result<Vec<u8>, ErrorStack> {
    let mut out = Vec::with_capacity(detached.map_or(0, <[u8]>::len));
    let dcont = detached.map(MemBio::new).transpose()?;
    {
        let sink = VecSink::new(&mut out)?;
        // SAFETY: as in `verify`.
        unsafe {
            cvt(sys::CMS_decrypt(
                cms.as_ptr(),
                key.as_ptr(),
                cert.as_ptr(),
                dcont.as_ref().map_or(ptr::null_mut(), |b| b.0),
                sink.bio,
                0,
            ))?;
        }
    }
    Ok(out)
}

/// `X509_get_extension_flags`: `EXFLAG_*` bits (CA, self-signed, ...).
pub(crate) fn extension_flags(cert: &X509Ref) -> u32 {
    // SAFETY: `cert` is a valid X509 for the borrow; the call only reads
    // (and caches) the certificate's parsed extensions.
    unsafe { sys::X509_get_extension_flags(cert.as_ptr()) }
}

/// `X509_get_key_usage`: keyUsage bits, `u32::MAX` when the extension is absent.
pub(crate) fn key_usage(cert: &X509Ref) -> u32 {
    // SAFETY: as above.
    unsafe { sys::X509_get_key_usage(cert.as_ptr()) }
}

/// `X509_get_extended_key_usage`: `XKU_*` bits, `u32::MAX` when absent.
pub(crate) fn extended_key_usage(cert: &X509Ref) -> u32 {
    // SAFETY: as above.
    unsafe { sys::X509_get_extended_key_usage(cert.as_ptr()) }
}

/// The certificate's SubjectPublicKeyInfo, DER, as it sits in the
/// certificate: no re-encoding (OpenSSL 3's encoder costs ~200 µs a call).
pub(crate) fn spki_der(cert: &X509Ref) -> Result<Vec<u8>, ErrorStack> {
    // SAFETY: the X509_PUBKEY is internal to `cert` and only read; the
    // first i2d call sizes the buffer, the second fills exactly that much.
    unsafe {
        let pk = X509_get_X509_PUBKEY(cert.as_ptr());
        if pk.is_null() {
            return Err(ErrorStack::get());
        }
        let len = i2d_X509_PUBKEY(pk, ptr::null_mut());
        if len <= 0 {
            return Err(ErrorStack::get());
        }
        let mut buf = vec![0u8; len as usize];
        let mut out = buf.as_mut_ptr();
        if i2d_X509_PUBKEY(pk, &mut out) != len {
            return Err(ErrorStack::get());
        }
        Ok(buf)
    }
}

/// Encrypts `data` to `recipients` with `cipher` (AEAD ciphers give
/// AuthEnvelopedData); RSA recipients get RSA-OAEP (SHA-256) when `oaep`.
pub(crate) fn encrypt(
    recipients: &[X509],
    data: &[u8],
    cipher: Cipher,
    oaep: bool,
) -> Result<CmsContentInfo, ErrorStack> {
    let flags = CMSOptions::BINARY | CMSOptions::PARTIAL;
    // SAFETY: CMS_encrypt with a NULL stack and PARTIAL returns an empty
    // envelope we own; recipients are up-referenced by OpenSSL.
    unsafe {
        let cms = CmsContentInfo::from_ptr(cvt_p(CMS_encrypt(
            ptr::null_mut(),
            ptr::null_mut(),
            cipher.as_ptr(),
            flags.bits(),
        ))?);
        for cert in recipients {
            let is_rsa = cert
                .public_key()
                .map(|k| k.id() == openssl::pkey::Id::RSA)
                .unwrap_or(false);
            let use_oaep = oaep && is_rsa;
            let ri_flags = if use_oaep {
                flags | CMSOptions::KEY_PARAM
            } else {
                flags
            };
            let ri = cvt_p(CMS_add1_recipient_cert(
                cms.as_ptr(),
                cert.as_ptr(),
                ri_flags.bits(),
            ))?;
            if use_oaep {
                let ctx = cvt_p(CMS_RecipientInfo_get0_pkey_ctx(ri))?;
                cvt(sys::EVP_PKEY_CTX_set_rsa_padding(
                    ctx,
                    sys::RSA_PKCS1_OAEP_PADDING,
                ))?;
                cvt(EVP_PKEY_CTX_set_rsa_oaep_md(
                    ctx,
                    MessageDigest::sha256().as_ptr(),
                ))?;
                cvt(EVP_PKEY_CTX_set_rsa_mgf1_md(
                    ctx,
                    MessageDigest::sha256().as_ptr(),
                ))?;
            }
        }
        let bio = MemBio::new(data)?;
        cvt(CMS_final(
            cms.as_ptr(),
            bio.0,
            ptr::null_mut(),
            flags.bits(),
        ))?;
        Ok(cms)
    }
}

/// The ContentInfo's content type (signedData, envelopedData, ...).
pub(crate) fn content_type(cms: &CmsContentInfoRef) -> Nid {
    // SAFETY: CMS_get0_type returns an internal pointer valid while `cms` lives.
    unsafe {
        let obj = CMS_get0_type(cms.as_ptr());
        if obj.is_null() {
            Nid::UNDEF
        } else {
            Nid::from_raw(sys::OBJ_obj2nid(obj))
        }
    }
}

/// Whether OpenSSL can set up the digests of this signed-data, as
/// `CMS_verify` does before it reads the content. `CMS_verify` with
/// detached content in binary mode leaks its copy of the content when that
/// set-up fails (OpenSSL 3.0 `cms_smime.c`: the read-only memory BIO is
/// freed only as part of the chain that failed to form), so callers check
/// first. The error queue holds OpenSSL's reason when this is false.
pub(crate) fn digests_available(cms: &CmsContentInfoRef) -> bool {
    // SAFETY: with no input BIO, CMS_dataInit makes its own (a null BIO
    // for detached content) and frees it on failure; on success the
    // returned chain is ours and freed whole here.
    unsafe {
        let bio = CMS_dataInit(cms.as_ptr(), ptr::null_mut());
        if bio.is_null() {
            return false;
        }
        sys::BIO_free_all(bio);
        true
    }
}

/// The signer certificates; valid only after a successful `CMS_verify`.
pub(crate) fn signers(cms: &CmsContentInfoRef) -> Vec<X509> {
    // SAFETY: CMS_get0_signers returns a new stack of borrowed certificates;
    // we up-reference each (to_owned) and free only the stack.
    unsafe {
        let stack = CMS_get0_signers(cms.as_ptr());
        if stack.is_null() {
            ErrorStack::get();
            return Vec::new();
        }
        let out = borrowed_certs(stack);
        sys::OPENSSL_sk_free(stack.cast());
        out
    }
}

/// Every certificate the message carries.
pub(crate) fn certificates(cms: &CmsContentInfoRef) -> Vec<X509> {
    // SAFETY: CMS_get1_certs returns a new stack of up-referenced
    // certificates; we take our own references and free the stack with
    // its references.
    unsafe {
        let stack = CMS_get1_certs(cms.as_ptr());
        if stack.is_null() {
            ErrorStack::get();
            return Vec::new();
        }
        let out = borrowed_certs(stack);
        openssl::stack::Stack::<X509>::from_ptr(stack);
        out
    }
}

/// # Safety
/// `stack` must be a valid STACK_OF(X509).
unsafe fn borrowed_certs(stack: *mut sys::stack_st_X509) -> Vec<X509> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        let stack = StackRef::<X509>::from_ptr(stack);
        stack.iter().map(|c| c.to_owned()).collect()
    }
}

/// The signingTime attribute of each signer, as Unix seconds.
pub(crate) fn signing_times(cms: &CmsContentInfoRef) -> Vec<Option<i64>> {
    // SAFETY: the SignerInfos stack and attributes are internal pointers
    // valid while `cms` lives; the time is read, never freed.
    unsafe {
        let infos = CMS_get0_SignerInfos(cms.as_ptr());
        if infos.is_null() {
            return Vec::new();
        }
        let n = sys::OPENSSL_sk_num(infos);
        (0..n)
            .map(|i| {
                let si = sys::OPENSSL_sk_value(infos, i) as *const CMS_SignerInfo;
                let loc = CMS_signed_get_attr_by_NID(si, Nid::PKCS9_SIGNINGTIME.as_raw(), -1);
                if loc < 0 {
                    return None;
                }
                let attr = CMS_signed_get_attr(si, loc);
                if attr.is_null() {
                    return None;
                }
                let mut t = X509_ATTRIBUTE_get0_data(attr, 0, V_ASN1_UTCTIME, ptr::null_mut());
                if t.is_null() {
                    t = X509_ATTRIBUTE_get0_data(attr, 0, V_ASN1_GENERALIZEDTIME, ptr::null_mut());
                }
                ErrorStack::get();
                if t.is_null() {
                    return None;
                }
                let time = openssl::asn1::Asn1TimeRef::from_ptr(t.cast());
                crate::cert::unix_time(time).ok()
            })
            .collect()
    }
}

/// True when `cert` is named by one of the message's recipient infos (key
/// transport or key agreement): decided from public identifiers alone.
pub(crate) fn is_recipient(cms: &CmsContentInfoRef, cert: &X509Ref) -> bool {
    // SAFETY: the stacks and entries are internal pointers valid while
    // `cms` lives; the comparisons only read.
    unsafe {
        let infos = CMS_get0_RecipientInfos(cms.as_ptr());
        if infos.is_null() {
            ErrorStack::get();
            return false;
        }
        let found = (0..sys::OPENSSL_sk_num(infos)).any(|i| {
            let ri = sys::OPENSSL_sk_value(infos, i) as *mut CMS_RecipientInfo;
            match CMS_RecipientInfo_type(ri) {
                CMS_RECIPINFO_TRANS => CMS_RecipientInfo_ktri_cert_cmp(ri, cert.as_ptr()) == 0,
                CMS_RECIPINFO_AGREE => {
                    let reks = CMS_RecipientInfo_kari_get0_reks(ri);
                    !reks.is_null()
                        && (0..sys::OPENSSL_sk_num(reks)).any(|j| {
                            let rek =
                                sys::OPENSSL_sk_value(reks, j) as *mut CMS_RecipientEncryptedKey;
                            CMS_RecipientEncryptedKey_cert_cmp(rek, cert.as_ptr()) == 0
                        })
                }
                _ => false,
            }
        });
        ErrorStack::get();
        found
    }
}

/// An OpenSSL error by library and reason (`ERR_GET_LIB`, `ERR_GET_REASON`);
/// `None` as the library matches any.
pub(crate) type Reason = (Option<c_int>, c_int);

const ERR_LIB_EVP: c_int = 6;
const ERR_LIB_CMS: c_int = 46;
const ERR_LIB_PKCS12: c_int = 35;
/// `ERR_R_UNSUPPORTED`: a common reason, with `ERR_RFLAG_COMMON` set.
const ERR_R_UNSUPPORTED: c_int = 268 | (0x2 << 18);

/// The reasons that mean "OpenSSL cannot or will not use this algorithm".
pub(crate) const UNSUPPORTED_ALGORITHM: &[Reason] = &[
    (Some(ERR_LIB_CMS), 149), // CMS_R_UNKNOWN_DIGEST_ALGORITHM
    (Some(ERR_LIB_CMS), 195), // CMS_R_UNSUPPORTED_SIGNATURE_ALGORITHM
    (Some(ERR_LIB_CMS), 179), // CMS_R_UNSUPPORTED_KEY_ENCRYPTION_ALGORITHM
    (Some(ERR_LIB_EVP), 156), // EVP_R_UNSUPPORTED_ALGORITHM
    (Some(ERR_LIB_EVP), 118), // EVP_R_UNSUPPORTED_PRIVATE_KEY_ALGORITHM
    (None, ERR_R_UNSUPPORTED),
];

/// `PKCS12_R_MAC_VERIFY_FAILURE`: a PKCS#12 file's MAC does not match (a
/// wrong passphrase).
pub(crate) const MAC_VERIFY_FAILURE: &[Reason] = &[(Some(ERR_LIB_PKCS12), 113)];

/// `CMS_R_SIGNER_CERTIFICATE_NOT_FOUND`.
pub(crate) const SIGNER_NOT_FOUND: &[Reason] = &[(Some(ERR_LIB_CMS), 138)];

/// Whether any error of `e` has one of `reasons`.
pub(crate) fn has_reason(e: &ErrorStack, reasons: &[Reason]) -> bool {
    e.errors().iter().any(|err| {
        reasons.iter().any(|&(lib, reason)| {
            lib.is_none_or(|l| l == err.library_code()) && err.reason_code() == reason
        })
    })
}
