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
/// encrypted parts, encrypted PKCS#8 keys). OpenSSL runs whatever a file
/// names: 10,000,000 PBKDF2 iterations take minutes, and so does scrypt
/// with a large parallelization. Work is counted in PBKDF2 iterations, or
/// scrypt's N·r·p: one unit of either costs about 0.5 µs here
/// (`openssl kdf`, docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KdfLimits {
    /// The work of one key derivation. Common exports ask for 2,048 (OpenSSL,
    /// Windows) up to 600,000 (OWASP's advice for PBKDF2-SHA256) iterations;
    /// OpenSSL's scrypt default is 131,072 (N 16384, r 8, p 1).
    pub max_work: u64,
    /// The work of all key derivations one file asks for (a bundle of many
    /// encrypted keys, a PKCS#12 file's MAC and parts together).
    pub max_total: u64,
}

impl Default for KdfLimits {
    fn default() -> Self {
        KdfLimits {
            max_work: 1_000_000,
            max_total: 32_000_000,
        }
    }
}

/// What one file has spent of its [`KdfLimits`] so far.
#[derive(Debug)]
pub struct KdfBudget {
    limits: KdfLimits,
    spent: std::cell::Cell<u64>,
}

impl KdfBudget {
    /// A budget with nothing spent.
    pub fn new(limits: KdfLimits) -> Self {
        KdfBudget {
            limits,
            spent: std::cell::Cell::new(0),
        }
    }

    /// A budget with the same limits and nothing spent.
    pub(crate) fn fresh(&self) -> Self {
        KdfBudget::new(self.limits)
    }

    /// Counts one derivation of `work` that `what` of `item` asks for, or
    /// refuses it (and everything after) with the reason.
    pub(crate) fn charge(&self, item: &str, what: &str, work: u64) -> crate::Result<()> {
        let refuse = |reason: String| crate::Error::Malformed {
            item: item.to_string(),
            reason,
        };
        if work > self.limits.max_work {
            return Err(refuse(format!(
                "{what} asks for {work} key derivation iterations (or scrypt N·r·p); smimed \
                 refuses more than {}, which would take minutes to open: export it again \
                 with the usual settings",
                self.limits.max_work
            )));
        }
        let spent = self.spent.get().saturating_add(work);
        self.spent.set(spent);
        if spent > self.limits.max_total {
            return Err(refuse(format!(
                "the file asks for {spent} key derivation iterations in all; smimed refuses \
                 more than {} for one file: split it into smaller files",
                self.limits.max_total
            )));
        }
        Ok(())
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
    /// Every certificate on a signer's path below the anchor must be
    /// covered by a current CRL of its issuer; a missing or out-of-date CRL
    /// fails the check instead of being noted. Off by default: most
    /// deployments load no CRLs.
    pub require_crl: bool,
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
            require_crl: false,
        }
    }

    /// The default rules now.
    pub fn now() -> Self {
        Self::at(crate::now())
    }
}
