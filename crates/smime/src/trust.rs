//! Path validation for signers: a signer is trusted when it chains, for the
//! S/MIME signing purpose, to a stored CA certificate, or is itself stored.

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509, X509PurposeId, X509Ref, X509StoreContext, X509VerifyResult};

use crate::{Certificate, Result};

/// The trust anchors of one check: stored CAs and stored senders' certificates.
pub struct TrustStore {
    anchors: Vec<X509>,
}

impl TrustStore {
    /// Trusts exactly these certificates (and what the CAs among them issued).
    pub fn new<'a>(anchors: impl IntoIterator<Item = &'a Certificate>) -> Self {
        TrustStore {
            anchors: anchors.into_iter().map(|c| c.x509().to_owned()).collect(),
        }
    }

    /// The anchors, for finding a signer whose certificate the message lacks.
    pub fn certificates(&self) -> &[X509] {
        &self.anchors
    }

    /// Validates `signer` at time `at` (Unix seconds), with `untrusted`
    /// certificates (those the message carries) to build the path.
    pub fn validate(
        &self,
        signer: &X509Ref,
        untrusted: &[X509],
        at: i64,
    ) -> Result<X509VerifyResult> {
        let mut builder = X509StoreBuilder::new()?;
        for anchor in &self.anchors {
            // Duplicates are harmless; OpenSSL reports them as errors.
            let _ = builder.add_cert(anchor.clone());
        }
        let mut param = X509VerifyParam::new()?;
        param.set_purpose(X509PurposeId::SMIME_SIGN)?;
        // A stored end-entity or intermediate certificate is an anchor on its own.
        param.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
        param.set_time(at as _);
        builder.set_param(&param)?;
        let store = builder.build();
        let mut chain = Stack::new()?;
        for cert in untrusted {
            chain.push(cert.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        let result = ctx.init(&store, signer, &chain, |c| {
            c.verify_cert()?;
            Ok(c.error())
        })?;
        // verify_cert leaves errors on the queue for failed paths.
        let _ = openssl::error::ErrorStack::get();
        Ok(result)
    }
}
