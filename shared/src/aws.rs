//! What every AWS SDK client here is built from: the region and endpoint Lambda's
//! environment gives, credentials from the environment, and an HTTPS client that trusts
//! Amazon's roots alone.
//!
//! Not aws-config's default chain: its profile, SSO, web-identity, ECS and IMDS providers
//! are never used on Lambda, yet cost binary size and cold-start time.

// The SDKs all re-export the one smithy type.
use aws_sdk_secretsmanager::config::SharedHttpClient;

use crate::config_error::ConfigError;

/// The roots of Amazon Trust Services, which sign every AWS endpoint outside China.
const AMAZON_ROOTS: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// Where a client sends its requests.
pub struct Target {
    pub region: String,
    /// `AWS_ENDPOINT_URL`, or the service's own variable: a local emulator in tests.
    pub endpoint: Option<String>,
    /// `AWS_CA_BUNDLE`: a PEM file of the only CAs to trust (see `http_client`).
    pub ca_bundle: Option<String>,
}

impl Target {
    /// The service's own endpoint variable (`AWS_ENDPOINT_URL_SECRETS_MANAGER`) wins over
    /// `AWS_ENDPOINT_URL`, as in the AWS SDKs and CLI.
    pub fn from_env(service_endpoint_var: &str) -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self::from_env_with_endpoint(var(service_endpoint_var).or_else(|| var("AWS_ENDPOINT_URL")))
    }

    /// The region and CA bundle from the environment, the endpoint as given.
    pub fn from_env_with_endpoint(endpoint: Option<String>) -> Result<Self, ConfigError> {
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .map_err(|_| ConfigError("AWS_REGION is not set (Lambda sets it; set it to reach AWS elsewhere)".into()))?;
        let ca_bundle = std::env::var("AWS_CA_BUNDLE").ok().filter(|path| !path.is_empty());
        Ok(Self { region, endpoint, ca_bundle })
    }

    /// TLS for a client of our own (the SES sender): `AWS_CA_BUNDLE` alone when set;
    /// else Amazon's roots where they suffice, and the Mozilla roots where they may not.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, ConfigError> {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let pem = match &self.ca_bundle {
            Some(path) => Some(std::fs::read(path).map_err(|e| ConfigError(format!("AWS_CA_BUNDLE {path}: {e}")))?),
            None if trusts_amazon_roots_only(&self.region, self.endpoint.as_deref()) => Some(AMAZON_ROOTS.to_vec()),
            None => None,
        };
        let roots = match pem {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| ConfigError(format!("a CA certificate for AWS clients: {e}")))?;
                    roots.add(cert).map_err(|e| ConfigError(format!("a CA certificate for AWS clients: {e}")))?;
                }
                roots
            }
            None => rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
        };
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError(format!("TLS settings for AWS clients: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// The HTTPS client to give the SDK, or `None` for the SDK's default.
    ///
    /// The default loads and parses the system's whole CA bundle on first use - ~4 ms
    /// of a cold start (docs/BENCHMARKS.md) - to reach an endpoint whose chain always
    /// ends at one of five known roots. The China partition (other CAs) and a custom
    /// HTTPS endpoint (a proxy, an emulator with its own CA) keep the default.
    ///
    /// `AWS_CA_BUNDLE` (the AWS tools' own variable), when set, is the whole trust store
    /// instead: how a custom HTTPS endpoint with a private CA (a TLS-fronted emulator in
    /// the benchmarks, a corporate proxy) is trusted without the system bundle.
    pub fn http_client(&self) -> Result<Option<SharedHttpClient>, ConfigError> {
        let roots = match &self.ca_bundle {
            Some(path) => std::fs::read(path).map_err(|e| ConfigError(format!("AWS_CA_BUNDLE {path}: {e}")))?,
            None if trusts_amazon_roots_only(&self.region, self.endpoint.as_deref()) => AMAZON_ROOTS.to_vec(),
            None => return Ok(None),
        };
        use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
        let context = TlsContext::builder()
            .with_trust_store(TrustStore::empty().with_pem_certificate(roots))
            .build()
            .map_err(|e| ConfigError(format!("TLS settings for AWS clients: {e}")))?;
        Ok(Some(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(context)
                .build_https(),
        ))
    }
}

fn trusts_amazon_roots_only(region: &str, endpoint: Option<&str>) -> bool {
    let custom_https = endpoint.is_some_and(|url| url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")));
    !region.starts_with("cn-") && !custom_https
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amazon_roots_are_five_usable_trust_anchors() {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_ROOTS).collect::<Result<_, _>>().unwrap();
        let mut store = rustls::RootCertStore::empty();
        let (added, rejected) = store.add_parsable_certificates(certs);
        assert_eq!((added, rejected), (5, 0));
    }

    #[test]
    fn a_ca_bundle_replaces_the_trust_store_and_must_be_readable() {
        let target = |ca_bundle: Option<&str>| Target {
            region: "us-east-1".into(),
            endpoint: Some("https://localhost:4566".into()),
            ca_bundle: ca_bundle.map(str::to_string),
        };
        // A custom HTTPS endpoint alone keeps the SDK's default client (the system bundle);
        // with a bundle, the client is ours, trusting that bundle.
        assert!(target(None).http_client().unwrap().is_none());
        let bundle = std::env::temp_dir().join(format!("aws-ca-{}.pem", std::process::id()));
        std::fs::write(&bundle, AMAZON_ROOTS).unwrap();
        assert!(target(bundle.to_str()).http_client().unwrap().is_some());
        std::fs::remove_file(&bundle).unwrap();
        let Err(missing) = target(bundle.to_str()).http_client() else { panic!("a missing bundle is an error") };
        assert!(missing.0.contains("AWS_CA_BUNDLE"), "{}", missing.0);
    }

    #[test]
    fn the_system_bundle_is_kept_where_amazon_roots_may_not_do() {
        assert!(trusts_amazon_roots_only("eu-west-1", None));
        assert!(trusts_amazon_roots_only("us-gov-west-1", None));
        assert!(trusts_amazon_roots_only("us-east-1", Some("http://127.0.0.1:5000")));
        assert!(!trusts_amazon_roots_only("cn-north-1", None));
        assert!(!trusts_amazon_roots_only("us-east-1", Some("HTTPS://secrets.internal.example")));
    }
}
