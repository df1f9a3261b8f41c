//! The control plane's certificates and keys, generated fresh for every start: a CA, the
//! kube-apiserver's serving certificate for 127.0.0.1 signed by it, and the service-account
//! token signing key. Clients trust the CA through the kubeconfig.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::env::StartError;

/// Paths of what [`generate`] wrote, plus the CA in PEM for kubeconfigs.
#[derive(Debug)]
pub struct Pki {
    pub ca_pem: String,
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub service_account_key: PathBuf,
    /// Its public half: kube-apiserver verifies tokens with public keys only.
    pub service_account_public_key: PathBuf,
}

pub fn generate(dir: &Path) -> Result<Pki, StartError> {
    let pki = |e: rcgen::Error| StartError::Pki(e.to_string());

    let ca_key = KeyPair::generate().map_err(pki)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "multi-eni test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(pki)?;
    let ca = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate().map_err(pki)?;
    let mut serving = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .map_err(pki)?;
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    serving.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&serving_key, &ca).map_err(pki)?;

    let service_account_key = KeyPair::generate().map_err(pki)?;

    let out = Pki {
        ca_pem: ca_cert.pem(),
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_public_key: dir.join("service-account.pub"),
    };
    write(&out.ca_cert, &out.ca_pem)?;
    write(&out.serving_cert, &serving_cert.pem())?;
    write(&out.serving_key, &serving_key.serialize_pem())?;
    write(
        &out.service_account_key,
        &service_account_key.serialize_pem(),
    )?;
    write(
        &out.service_account_public_key,
        &service_account_key.public_key_pem(),
    )?;
    Ok(out)
}

fn write(path: &Path, contents: &str) -> Result<(), StartError> {
    std::fs::write(path, contents).map_err(|source| StartError::Io {
        what: format!("write {}", path.display()),
        source,
    })
}
