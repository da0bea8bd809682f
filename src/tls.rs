//! TLS for the API and the storage host: which rustls crypto provider does the cryptography, and
//! which extra root certificates are trusted.
//!
//! The provider is chosen at compile time with one of two crate features, named as rustls names
//! them:
//!
//! * `aws-lc-rs` (default): what reqwest 0.13's own `rustls` feature picks, so a program that
//!   already uses reqwest's defaults compiles nothing twice for this crate.
//! * `ring`: for programs whose tree already has `ring`, or that want the lighter build
//!   (`aws-lc-sys` compiles C with a build script that dominates a cold build):
//!   `mangrove = { version = "…", default-features = false, features = ["ring"] }`.
//!
//! One of them must be on. When both are on (a tree where one crate asks for `ring` and another
//! leaves the defaults on), `ring` is used: it was asked for by name, and `aws-lc-rs` is only ever
//! on by default.
//!
//! Certificates are verified against the platform's roots (as reqwest does, with
//! `rustls-platform-verifier`), plus those added with
//! [`ClientBuilder::add_root_certificate`](crate::ClientBuilder::add_root_certificate): a
//! corporate proxy's CA, or a test server's self-signed certificate.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

use crate::error::Error;

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!(
    "mangrove needs a TLS crypto provider: turn on the feature `aws-lc-rs` (the default) or `ring`, \
     e.g. mangrove = { version = \"…\", default-features = false, features = [\"ring\"] }"
);

/// A root certificate to trust on top of the platform's, for the API and the storage host; add
/// it with [`ClientBuilder::add_root_certificate`](crate::ClientBuilder::add_root_certificate).
///
/// ```
/// # fn main() -> Result<(), mangrove::Error> {
/// # let pem = include_bytes!("../tests/fixtures/tls/ca.pem");
/// // let pem = std::fs::read("corporate-ca.pem")?;
/// let ca = mangrove::tls::Certificate::from_pem(pem)?;
/// let client = mangrove::Client::builder()
///     .token("my-token")
///     .add_root_certificate(ca)
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate(CertificateDer<'static>);

impl Certificate {
    /// The first certificate of a PEM text (`-----BEGIN CERTIFICATE-----`).
    pub fn from_pem(pem: &[u8]) -> Result<Certificate, Error> {
        CertificateDer::from_pem_slice(pem)
            .map(Certificate)
            .map_err(|e| Error::Config(format!("not a PEM certificate: {e}")))
    }

    /// Every certificate of a PEM bundle, in order (an empty bundle is an error).
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Vec<Certificate>, Error> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .map(|cert| cert.map(Certificate))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("not a PEM certificate bundle: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Config("no certificate in the PEM bundle".into()));
        }
        Ok(certs)
    }

    /// A DER-encoded certificate (checked when the client is built).
    pub fn from_der(der: impl Into<Vec<u8>>) -> Certificate {
        Certificate(CertificateDer::from(der.into()))
    }
}

/// Shows the size only: a certificate is public, but thousands of bytes of it help nobody.
impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate({} bytes of DER)", self.0.len())
    }
}

/// The TLS settings of a client: the extra roots (the provider is the crate feature's).
#[derive(Clone, Debug, Default)]
pub(crate) struct Tls {
    pub(crate) extra_roots: Vec<Certificate>,
}

/// The crypto provider the crate features select.
fn provider() -> CryptoProvider {
    // `ring` wins when both are on: see the module docs.
    #[cfg(feature = "ring")]
    return rustls::crypto::ring::default_provider();
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    return rustls::crypto::aws_lc_rs::default_provider();
    // Only the `compile_error!` above should be reported then, not a missing return value too.
    #[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
    unreachable!()
}

/// Gives `builder` a rustls configuration with the selected provider and `tls`'s extra roots:
/// the one place both HTTP clients (API and storage host) get their TLS from.
///
/// The configuration is handed over ready-made (`tls_backend_preconfigured`) rather than left to
/// reqwest: with reqwest's `rustls-no-provider` (the `ring` build), reqwest would otherwise use the
/// process-wide default provider and panic when none is installed, and a library must not install
/// one for its whole process. Building it here for both features keeps one code path, so the test
/// that runs under each feature covers the same code. reqwest would build the same thing: the
/// platform verifier, TLS 1.2 and 1.3, and ALPN offering HTTP/2 then HTTP/1.1 (what reqwest offers
/// with its `http2` feature, which this crate turns on).
///
/// Built once per HTTP client, as reqwest does: the platform verifier reads the system's roots
/// when it is made, so a new client sees a changed trust store.
pub(crate) fn configure(
    builder: reqwest::ClientBuilder,
    tls: &Tls,
) -> Result<reqwest::ClientBuilder, Error> {
    let provider = Arc::new(provider());
    let roots = tls.extra_roots.iter().map(|c| c.0.clone());
    let verifier = platform_verifier(roots, provider.clone())
        .map_err(|e| Error::Config(format!("cannot set up TLS certificate verification: {e}")))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("cannot set up TLS: {e}")))?
        .dangerous() // not dangerous: the verifier is the platform's, as reqwest's own default
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(builder.tls_backend_preconfigured(config))
}

/// The platform's verifier, with the extra roots where the platform verifier can take them.
fn platform_verifier(
    roots: impl ExactSizeIterator<Item = CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, rustls::Error> {
    #[cfg(not(target_os = "android"))]
    {
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider)
    }
    // Android's verifier asks the OS and takes no extra roots.
    #[cfg(target_os = "android")]
    {
        if roots.len() > 0 {
            return Err(rustls::Error::General(
                "extra root certificates are not supported on Android".into(),
            ));
        }
        rustls_platform_verifier::Verifier::new(provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &[u8] = include_bytes!("../tests/fixtures/tls/ca.pem");

    #[test]
    fn pem_certificates_parse_and_garbage_does_not() {
        let ca = Certificate::from_pem(CA).unwrap();
        assert!(ca.0.len() > 100);
        let both = [CA, CA].concat();
        assert_eq!(
            Certificate::from_pem_bundle(&both).unwrap(),
            vec![ca.clone(), ca]
        );
        assert!(matches!(
            Certificate::from_pem(b"hello"),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Certificate::from_pem_bundle(b""),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn a_der_that_is_not_a_certificate_fails_the_build_not_the_handshake() {
        let tls = Tls {
            extra_roots: vec![Certificate::from_der(b"not DER".to_vec())],
        };
        let err = configure(reqwest::Client::builder(), &tls).unwrap_err();
        assert!(
            err.to_string().contains("TLS certificate verification"),
            "{err}"
        );
    }
}
