//! Credentials in strongSwan's swanctl layout beside the configuration file:
//! `x509/` (our certificates), `x509ca/` (trust anchors), `private/` (private keys, 0600) —
//! plus any absolute path the configuration names. PSKs live in the configuration itself
//! (`secrets`). Every file that does not load is an error naming the file and the reason, so
//! a reload with a broken credential is refused as a whole.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use nvesec_conf as conf;
use nvesec_ikev2::config::{AuthError, Identity, LocalSigner, PeerAuthenticator, PeerPublicKey};
use nvesec_ikev2::crypto::Signer;
use nvesec_pki::{
    verify_chain, CertInfo, Certificate, IkeIdentity, KeyType, PrivateKey, RdnSequence, TrustStore,
    VerifyError,
};

/// A credential file that did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct CredError {
    pub path: PathBuf,
    pub message: String,
}

fn cred_err(path: &Path, message: impl Into<String>) -> CredError {
    CredError {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// One certificate with the facts listings and the engine need.
#[derive(Clone)]
pub struct LoadedCert {
    pub path: PathBuf,
    pub der: Vec<u8>,
    /// What nvesec-pki read from it (subject, issuer, validity, basic constraints, SANs...).
    pub info: CertInfo,
    /// The SANs as text, for listings and identity checks.
    pub alt_names: Vec<String>,
    /// The matching private key from `private/`, as the engine's signer.
    pub signer: Option<Arc<dyn LocalSigner>>,
}

impl std::fmt::Debug for LoadedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedCert")
            .field("path", &self.path)
            .field("subject", &self.info.subject)
            .field("has_private_key", &self.signer.is_some())
            .finish()
    }
}

/// Everything loaded from the credential directories.
#[derive(Debug, Clone, Default)]
pub struct Creds {
    /// End-entity certificates (`x509/` and `local.certs`).
    pub certs: Vec<LoadedCert>,
    /// Trust anchors (`x509ca/`, `remote.cacerts`, `authorities`).
    pub cas: Vec<LoadedCert>,
    /// Number of private keys loaded.
    pub keys: usize,
    /// `certificate from 'x509/nve1.pem'` lines for `--load-creds`.
    pub loaded: Vec<String>,
    /// Non-fatal findings (key file readable by others).
    pub warnings: Vec<String>,
}

/// Files in `dir` (sorted), none if it does not exist.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, CredError> {
    match fs::read_dir(dir) {
        Ok(rd) => {
            let mut v: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            v.sort();
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(cred_err(dir, format!("cannot list directory: {e}"))),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CredError> {
    fs::read(path).map_err(|e| cred_err(path, format!("cannot read: {e}")))
}

fn load_cert(path: &Path) -> Result<LoadedCert, CredError> {
    let bytes = read(path)?;
    let certs = Certificate::from_bytes(&bytes).map_err(|e| cred_err(path, e.to_string()))?;
    let cert = certs
        .into_iter()
        .next()
        .ok_or_else(|| cred_err(path, "no certificate in the file"))?;
    let info = cert.info().map_err(|e| cred_err(path, e.to_string()))?;
    Ok(LoadedCert {
        path: path.to_path_buf(),
        der: cert.der().to_vec(),
        alt_names: info.sans.iter().map(|s| s.to_string()).collect(),
        info,
        signer: None,
    })
}

fn load_key(path: &Path, warnings: &mut Vec<String>) -> Result<PrivateKey, CredError> {
    if let Ok(Some(mode)) = nvesec_pki::files::exposed_key_mode(path) {
        warnings.push(format!(
            "{}: private key file is readable by group/others (mode {mode:04o}); run chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    let bytes = zeroize::Zeroizing::new(read(path)?);
    PrivateKey::from_bytes(&bytes).map_err(|e| cred_err(path, e.to_string()))
}

fn signer(key: &PrivateKey, path: &Path) -> Result<Arc<dyn LocalSigner>, CredError> {
    if key.key_type() == KeyType::EcdsaP384 {
        return Err(cred_err(
            path,
            "ECDSA P-384 keys cannot sign IKE AUTH yet (use ed25519 or ecdsa 256)",
        ));
    }
    let der = key.to_pkcs8_der();
    Signer::from_pkcs8_der(&der)
        .map(|s| Arc::new(s) as Arc<dyn LocalSigner>)
        .map_err(|e| cred_err(path, e.to_string()))
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

impl Creds {
    /// Load `x509/`, `x509ca/` and `private/` under `dir` (the configuration's directory)
    /// and every certificate file `cfg` names.
    pub fn load(dir: &Path, cfg: &conf::Config) -> Result<Creds, Vec<CredError>> {
        let mut c = Creds::default();
        let mut errors = Vec::new();
        let mut ee_paths = Vec::new();
        let mut ca_paths = Vec::new();
        match files_in(&dir.join("x509")) {
            Ok(v) => ee_paths.extend(v),
            Err(e) => errors.push(e),
        }
        match files_in(&dir.join("x509ca")) {
            Ok(v) => ca_paths.extend(v),
            Err(e) => errors.push(e),
        }
        for conn in &cfg.connections {
            ee_paths.extend(conn.local.certs.iter().map(|f| f.path.clone()));
            ca_paths.extend(conn.remote.cacerts.iter().map(|f| f.path.clone()));
        }
        ca_paths.extend(cfg.authorities.iter().map(|a| a.cacert.path.clone()));
        ee_paths.sort();
        ee_paths.dedup();
        ca_paths.sort();
        ca_paths.dedup();
        for p in &ee_paths {
            match load_cert(p) {
                Ok(cert) => {
                    c.loaded.push(format!("certificate from '{}'", rel(dir, p)));
                    c.certs.push(cert);
                }
                Err(e) => errors.push(e),
            }
        }
        for p in &ca_paths {
            match load_cert(p) {
                Ok(cert) if !cert.info.is_ca => errors.push(cred_err(
                    p,
                    format!(
                        "\"{}\" is not a CA certificate (no basicConstraints CA:TRUE)",
                        cert.info.subject
                    ),
                )),
                Ok(cert) => {
                    c.loaded
                        .push(format!("CA certificate from '{}'", rel(dir, p)));
                    c.cas.push(cert);
                }
                Err(e) => errors.push(e),
            }
        }
        let key_paths = match files_in(&dir.join("private")) {
            Ok(v) => v,
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        for p in &key_paths {
            let key = match load_key(p, &mut c.warnings) {
                Ok(k) => k,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            c.keys += 1;
            c.loaded.push(format!("private key from '{}'", rel(dir, p)));
            let spki = key.public_key().spki_der().to_vec();
            for cert in c.certs.iter_mut().filter(|ct| ct.signer.is_none()) {
                let matches = Certificate::from_der(cert.der.clone())
                    .ok()
                    .and_then(|x| x.public_key().ok())
                    .is_some_and(|pk| pk.spki_der() == spki.as_slice());
                if matches {
                    match signer(&key, p) {
                        Ok(s) => cert.signer = Some(s),
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }

    /// The loaded certificate at `path`.
    pub fn local_cert(&self, path: &Path) -> Option<&LoadedCert> {
        self.certs.iter().find(|c| c.path == path)
    }

    /// A trust store of the CAs at `paths`, or of every loaded CA when `paths` is empty.
    pub fn trust_store(&self, paths: &[&Path]) -> Result<TrustStore, String> {
        let mut store = TrustStore::new();
        let mut n = 0;
        for ca in &self.cas {
            if paths.is_empty() || paths.contains(&ca.path.as_path()) {
                let cert = Certificate::from_der(ca.der.clone()).map_err(|e| e.to_string())?;
                store
                    .add_ca(cert)
                    .map_err(|e| format!("{}: {e}", ca.path.display()))?;
                n += 1;
            }
        }
        if n == 0 {
            return Err(
                "auth = pubkey needs a CA certificate in x509ca/ (or cacerts = ...)".into(),
            );
        }
        Ok(store)
    }

    /// Certificates 30, 7 or 1 day(s) (or less) from expiry, and expired ones: (file,
    /// threshold crossed (-1 = expired), log line).
    pub fn expiry_warnings(&self, now: SystemTime) -> Vec<(PathBuf, i64, String)> {
        let mut out = Vec::new();
        for c in self.certs.iter().chain(&self.cas) {
            let days = nvesec_pki::days_until(c.info.not_after, now);
            let threshold = [1, 7, 30].into_iter().find(|t| days <= *t);
            if days < 0 {
                out.push((
                    c.path.clone(),
                    -1,
                    format!(
                        "certificate \"{}\" ({}) expired {} days ago",
                        c.info.subject,
                        c.path.display(),
                        -days
                    ),
                ));
            } else if let Some(t) = threshold {
                out.push((
                    c.path.clone(),
                    t,
                    format!(
                        "certificate \"{}\" ({}) expires in {days} days (less than {t})",
                        c.info.subject,
                        c.path.display()
                    ),
                ));
            }
        }
        out
    }
}

/// The engine's certificate check through `nvesec-pki` (the same checks as
/// `nvesec-pki --verify`), plus an optional required subject DN (`remote.id = CN=...`),
/// compared RDN by RDN (RFC 5280 §7.1; docs/pki.md).
pub struct PkiAuthenticator {
    store: TrustStore,
    subject: Option<RdnSequence>,
}

impl PkiAuthenticator {
    pub fn new(store: TrustStore, subject: Option<RdnSequence>) -> Self {
        PkiAuthenticator { store, subject }
    }
}

fn ike_identity(id: &Identity) -> IkeIdentity {
    match id {
        Identity::Ipv4(a) => IkeIdentity::Ipv4(*a),
        Identity::Ipv6(a) => IkeIdentity::Ipv6(*a),
        Identity::Fqdn(s) => IkeIdentity::Fqdn(s.clone()),
        Identity::Rfc822(s) => IkeIdentity::Rfc822(s.clone()),
        Identity::DerAsn1Dn(d) => IkeIdentity::DerAsn1Dn(d.clone()),
        Identity::KeyId(d) => IkeIdentity::KeyId(d.clone()),
    }
}

impl PeerAuthenticator for PkiAuthenticator {
    fn verify_peer_cert(
        &self,
        chain: &[Vec<u8>],
        id: &Identity,
        now: SystemTime,
    ) -> Result<PeerPublicKey, AuthError> {
        let (ee, rest) = chain.split_first().ok_or(AuthError::NoCertificate)?;
        // Bounded before anything is parsed (the engine caps CERT payloads the same way).
        if chain.len() > nvesec_pki::verify::MAX_PEER_CERTS {
            return Err(AuthError::TooManyCertificates {
                got: chain.len(),
                max: nvesec_pki::verify::MAX_PEER_CERTS,
            });
        }
        let parse = |d: &Vec<u8>| {
            Certificate::from_der(d.clone()).map_err(|e| AuthError::UntrustedChain(e.to_string()))
        };
        let ee = parse(ee)?;
        let ints = rest.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
        let v = verify_chain(&ee, &ints, &self.store, now).map_err(|e| match e {
            VerifyError::Expired { .. } | VerifyError::NotYetValid { .. } => AuthError::Validity,
            VerifyError::TooManyCertificates { got, max } => {
                AuthError::TooManyCertificates { got, max }
            }
            e @ VerifyError::SignatureBudget(_) => AuthError::ChainLimit(e.to_string()),
            e @ (VerifyError::WeakSignature { .. } | VerifyError::RsaKeySize { .. }) => {
                AuthError::WeakAlgorithm(e.to_string())
            }
            other => AuthError::UntrustedChain(other.to_string()),
        })?;
        if !v.matches_id(&ike_identity(id)) {
            return Err(AuthError::IdentityMismatch);
        }
        if let Some(want) = &self.subject {
            if !want.matches_der(&v.subject_der) {
                return Err(AuthError::IdentityNotAllowed);
            }
        }
        match v.public_key.key_type() {
            KeyType::Ed25519 => <[u8; 32]>::try_from(v.public_key.raw())
                .map(PeerPublicKey::Ed25519)
                .map_err(|_| AuthError::UntrustedChain("bad Ed25519 key".into())),
            KeyType::EcdsaP256 => Ok(PeerPublicKey::EcdsaP256(v.public_key.raw().to_vec())),
            KeyType::EcdsaP384 => Err(AuthError::WrongMethod("ECDSA P-384 peer key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn empty_cfg() -> conf::Config {
        conf::Config::default()
    }

    #[test]
    fn missing_directories_are_empty() {
        let d = tempfile::tempdir().unwrap();
        let c = Creds::load(d.path(), &empty_cfg()).unwrap();
        assert!(c.certs.is_empty() && c.cas.is_empty() && c.keys == 0);
    }

    #[test]
    fn bad_files_name_the_file_and_reason() {
        let d = tempfile::tempdir().unwrap();
        for sub in ["x509", "x509ca", "private"] {
            fs::create_dir(d.path().join(sub)).unwrap();
        }
        fs::write(
            d.path().join("x509/broken.pem"),
            "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        fs::write(d.path().join("private/k.pem"), "not a key").unwrap();
        let errs = Creds::load(d.path(), &empty_cfg()).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].contains("x509/broken.pem: "), "{text:?}");
        assert!(text[1].contains("private/k.pem: "), "{text:?}");
    }

    fn ca_and_leaf(dir: &Path, days: u32) -> (PathBuf, PathBuf, PathBuf) {
        use nvesec_pki::{issue, self_sign, CertProfile, Dn};
        let ca_key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let now = SystemTime::now();
        let ca = self_sign(
            &ca_key,
            &CertProfile::ca(Dn::parse("CN=Test CA").unwrap()),
            now,
        )
        .unwrap();
        let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let mut prof = CertProfile::end_entity(Dn::parse("CN=nve1").unwrap());
        prof.lifetime_days = days;
        let leaf = issue(&key.public_key(), &prof, &ca, &ca_key, now).unwrap();
        for sub in ["x509", "x509ca", "private"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let (ca_p, leaf_p, key_p) = (
            dir.join("x509ca/ca.pem"),
            dir.join("x509/nve1.pem"),
            dir.join("private/nve1.pem"),
        );
        fs::write(&ca_p, ca.to_pem()).unwrap();
        fs::write(&leaf_p, leaf.to_pem()).unwrap();
        fs::write(&key_p, key.to_pem().as_bytes()).unwrap();
        fs::set_permissions(&key_p, fs::Permissions::from_mode(0o600)).unwrap();
        (ca_p, leaf_p, key_p)
    }

    #[test]
    fn key_is_matched_to_its_certificate_and_expiry_warned() {
        let d = tempfile::tempdir().unwrap();
        let (_, leaf, key) = ca_and_leaf(d.path(), 5);
        let c = Creds::load(d.path(), &empty_cfg()).unwrap();
        assert_eq!((c.certs.len(), c.cas.len(), c.keys), (1, 1, 1));
        assert!(c.local_cert(&leaf).unwrap().signer.is_some());
        assert!(c.warnings.is_empty());
        let w = c.expiry_warnings(SystemTime::now());
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].1, 7, "{w:?}");
        assert!(w[0].2.contains("(less than 7)"), "{w:?}");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let c = Creds::load(d.path(), &empty_cfg()).unwrap();
        assert!(c.warnings[0].contains("mode 0644"), "{:?}", c.warnings);
    }

    #[test]
    fn authenticator_accepts_the_enrolled_peer_only() {
        let d = tempfile::tempdir().unwrap();
        let (_, leaf, _) = ca_and_leaf(d.path(), 365);
        let c = Creds::load(d.path(), &empty_cfg()).unwrap();
        let der = c.local_cert(&leaf).unwrap().der.clone();
        let auth = PkiAuthenticator::new(c.trust_store(&[]).unwrap(), None);
        let id = Identity::Fqdn("nve1".into());
        let k = auth
            .verify_peer_cert(std::slice::from_ref(&der), &id, SystemTime::now())
            .unwrap();
        assert!(matches!(k, PeerPublicKey::Ed25519(_)));
        assert_eq!(
            auth.verify_peer_cert(
                std::slice::from_ref(&der),
                &Identity::Fqdn("nve2".into()),
                SystemTime::now()
            ),
            Err(AuthError::IdentityMismatch)
        );
        let strict = PkiAuthenticator::new(
            c.trust_store(&[]).unwrap(),
            Some(RdnSequence::parse("CN=other").unwrap()),
        );
        assert_eq!(
            strict.verify_peer_cert(&[der], &id, SystemTime::now()),
            Err(AuthError::IdentityNotAllowed)
        );
        // Another CA's store refuses the chain.
        let d2 = tempfile::tempdir().unwrap();
        ca_and_leaf(d2.path(), 365);
        let other = Creds::load(d2.path(), &empty_cfg()).unwrap();
        let auth2 = PkiAuthenticator::new(other.trust_store(&[]).unwrap(), None);
        let der = c.certs[0].der.clone();
        assert!(matches!(
            auth2.verify_peer_cert(&[der], &id, SystemTime::now()),
            Err(AuthError::UntrustedChain(_))
        ));
    }

    #[test]
    fn required_dn_is_compared_rdn_by_rdn() {
        use nvesec_pki::{issue, self_sign, CertProfile, Dn};
        let now = SystemTime::now();
        let ca_key = PrivateKey::generate(KeyType::Ed25519).unwrap();
        let ca = self_sign(
            &ca_key,
            &CertProfile::ca(Dn::parse("CN=Test CA").unwrap()),
            now,
        )
        .unwrap();
        let leaf = |dn: &str| {
            let key = PrivateKey::generate(KeyType::Ed25519).unwrap();
            let prof = CertProfile::end_entity(Dn::parse(dn).unwrap());
            issue(&key.public_key(), &prof, &ca, &ca_key, now).unwrap()
        };
        // One CN whose value is "nve1, O=Corp", and CN=nve1 plus O=Corp.
        let single = leaf("CN=nve1\\, O=Corp");
        let two = leaf("CN=nve1, O=Corp");
        let mut store = TrustStore::new();
        store.add_ca(ca.clone()).unwrap();
        let check = |want: &str, cert: &Certificate| {
            let id = Identity::DerAsn1Dn(cert.info().unwrap().subject_der);
            PkiAuthenticator::new(store.clone(), Some(RdnSequence::parse(want).unwrap()))
                .verify_peer_cert(&[cert.der().to_vec()], &id, now)
                .map(|_| ())
        };
        assert_eq!(
            check("CN=nve1, O=Corp", &single),
            Err(AuthError::IdentityNotAllowed)
        );
        assert_eq!(check("CN=nve1, O=Corp", &two), Ok(()));
        assert_eq!(check("cn=NVE1 ,o=corp", &two), Ok(()));
        assert_eq!(check("CN=nve1\\, O=Corp", &single), Ok(()));
        assert_eq!(
            check("CN=nve1\\, O=Corp", &two),
            Err(AuthError::IdentityNotAllowed)
        );
    }
}
