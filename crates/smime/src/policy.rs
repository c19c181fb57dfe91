//! What incoming mail is judged by, as one value passed in (in the spirit
//! of sequoia-openpgp's `Policy`): the time of the check, the weakest
//! algorithms still accepted, and the bounds on what a message may make
//! OpenSSL do. Nothing here is global; tests pin `now`.

/// How many of each repeated CMS element a structure may hold. OpenSSL
/// works through these lists before any signature is checked, some of them
/// recursively (one nested digest BIO per `digestAlgorithms` entry: 15,000
/// entries overflow a thread's stack), so they are counted in the BER first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CmsLimits {
    /// `SignedData.digestAlgorithms` entries. Real signers list one per
    /// digest they use: one or two.
    pub digest_algorithms: usize,
    /// `SignedData.signerInfos` entries. Mail has one signer.
    pub signers: usize,
    /// Certificates a SignedData or an OriginatorInfo carries. A chain is
    /// two to four; Outlook adds the encryption certificate.
    pub certificates: usize,
    /// CRLs a SignedData or an OriginatorInfo carries.
    pub crls: usize,
    /// Recipients of an (Auth)EnvelopedData, each key agreement recipient
    /// counted: a large mailing list.
    pub recipients: usize,
    /// Signed or unsigned attributes of one signer. Outlook writes about ten.
    pub attributes: usize,
}

impl Default for CmsLimits {
    fn default() -> Self {
        CmsLimits {
            digest_algorithms: 16,
            signers: 16,
            certificates: 64,
            crls: 16,
            recipients: 1000,
            attributes: 64,
        }
    }
}

/// How much key derivation an uploaded file may ask for (PKCS#12 MACs and
/// encrypted parts, encrypted PKCS#8 keys). OpenSSL runs whatever count a
/// file names, and 10,000,000 iterations take minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KdfLimits {
    /// Iterations of one key derivation. Common exports use 2,048 (OpenSSL,
    /// Windows) up to 600,000 (OWASP's advice for PBKDF2-SHA256).
    pub max_iterations: u64,
}

impl Default for KdfLimits {
    fn default() -> Self {
        KdfLimits {
            max_iterations: 1_000_000,
        }
    }
}

/// The rules one incoming message is checked by.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// The time of the check, Unix seconds: certificates must be valid now.
    pub now: i64,
    /// The smallest RSA modulus a signer may have.
    pub min_rsa_bits: u32,
    /// SHA-1 signatures give `weak_signature` instead of a verified result
    /// with a warning. Off by default: Thunderbird and Outlook still sign
    /// with SHA-1 when told to.
    pub reject_sha1: bool,
    /// How many S/MIME layers are peeled at most.
    pub max_layers: usize,
    /// Bounds on the CMS structures.
    pub limits: CmsLimits,
    /// Bounds on key derivation in uploaded files.
    pub kdf: KdfLimits,
    /// A detached signature that fails over the canonical (CRLF) content is
    /// tried again over its LF-only form, which some signers hash (noted in
    /// the result).
    pub lf_fallback: bool,
}

impl Policy {
    /// The default rules at time `now`.
    pub fn at(now: i64) -> Self {
        Policy {
            now,
            min_rsa_bits: crate::cert::MIN_RSA_BITS,
            reject_sha1: false,
            max_layers: 16,
            limits: CmsLimits::default(),
            kdf: KdfLimits::default(),
            lf_fallback: true,
        }
    }

    /// The default rules now.
    pub fn now() -> Self {
        Self::at(crate::now())
    }
}
