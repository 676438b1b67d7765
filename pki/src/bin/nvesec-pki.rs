//! nvesec-pki: strongSwan `pki`-compatible enrollment tool for nvesec.
//!
//! `nvesec-pki --gen|--self|--req|--issue|--print|--verify|--pub|--keyid|--signcrl [options]`
//! and `nvesec-pki enroll --name HOST ...`. Errors are one line naming the
//! file and the reason, with exit status 1.
#![forbid(unsafe_code)]

use nvesec_pki::{
    cert, crl, csr::Csr, files, issue, key, names, verify, CertProfile, Certificate, Crl, Dn, Flag,
    KeyType, PrivateKey, PublicKey, SubjectAltName, TrustStore,
};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

const USAGE: &str = "usage: nvesec-pki COMMAND [options]   (strongSwan pki syntax)
  --gen     (-g) [--type ed25519|ecdsa] [--size 256|384] [--outform pem|der]
  --self    (-s) --in KEY --dn DN [--san SAN]+ [--ca] [--pathlen N] [--lifetime DAYS]
  --req     (-r) --in KEY --dn DN [--san SAN]+
  --issue   (-i) --in CSR|PUBKEY [--type pkcs10|pub] --cacert CA --cakey KEY [--dn DN]
                 [--san SAN]+ [--lifetime DAYS] [--serial HEX] [--ca] [--pathlen N]
                 [--flag serverAuth|clientAuth|ipsecIKE|ikeIntermediate|ocspSigning|crlSign]+
  --print   (-a) --in FILE
  --verify  (-v) --in CERT --cacert CA [--cacert CA]+ [--crl CRL]+
  --pub     (-p) --in KEY|CSR|CERT
  --keyid   (-k) --in KEY|CSR|CERT|PUBKEY [--id all|spk|spki] [--format pretty|hex]
  --signcrl (-c) --cacert CA --cakey KEY [--lifetime DAYS] [[--reason R] --cert FILE|--serial HEX]+
  enroll    --name HOST --cacert CA --cakey KEY [--dir /etc/nvesec] [--type T] [--size N]
            [--dn DN] [--san SAN]+ [--lifetime DAYS] [--force]
common: [--outform pem|der] (default pem) [--outfile FILE] [--force]
        [--not-before 'dd.mm.yy HH:MM:SS'] [--not-after ...] (UTC)";

/// An error line: `FILE: reason` (or just the reason).
struct CliError {
    file: Option<String>,
    msg: String,
}

impl CliError {
    fn new(file: impl Into<String>, msg: impl std::fmt::Display) -> Self {
        Self {
            file: Some(file.into()),
            msg: msg.to_string(),
        }
    }
    fn usage(msg: impl std::fmt::Display) -> Self {
        Self {
            file: None,
            msg: msg.to_string(),
        }
    }
}

type Res<T> = Result<T, CliError>;

/// println! that ignores a closed stdout (`nvesec-pki --print ... | head`)
/// instead of panicking on EPIPE.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.file {
                Some(f) => eprintln!("nvesec-pki: error: {f}: {}", e.msg),
                None => eprintln!("nvesec-pki: error: {}", e.msg),
            }
            ExitCode::from(1)
        }
    }
}

/// Parsed options in command-line order (order matters for `--reason`).
struct Opts {
    items: Vec<(String, String)>,
}

const VALUE_OPTS: &[&str] = &[
    "in",
    "type",
    "size",
    "outform",
    "dn",
    "san",
    "lifetime",
    "cacert",
    "cakey",
    "flag",
    "pathlen",
    "serial",
    "crl",
    "cert",
    "reason",
    "outfile",
    "name",
    "dir",
    "not-before",
    "not-after",
    "date",
    "id",
    "format",
    "debug",
    "digest",
];
const BOOL_OPTS: &[&str] = &["ca", "force", "help"];

impl Opts {
    fn parse(args: &[String]) -> Res<Self> {
        let mut items = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .ok_or_else(|| CliError::usage(format!("unexpected argument '{a}'\n{USAGE}")))?;
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (name, None),
            };
            if BOOL_OPTS.contains(&name) {
                items.push((name.to_string(), String::new()));
            } else if VALUE_OPTS.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| CliError::usage(format!("option --{name} needs a value")))?,
                };
                items.push((name.to_string(), v));
            } else {
                return Err(CliError::usage(format!("unknown option --{name}\n{USAGE}")));
            }
        }
        Ok(Self { items })
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, name: &str) -> Vec<&str> {
        self.items
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn has(&self, name: &str) -> bool {
        self.items.iter().any(|(n, _)| n == name)
    }
    fn need(&self, name: &str) -> Res<&str> {
        self.get(name)
            .ok_or_else(|| CliError::usage(format!("missing option --{name}")))
    }
    fn number<T: std::str::FromStr>(&self, name: &str) -> Res<Option<T>> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| CliError::usage(format!("--{name}: '{v}' is not a valid number")))
            })
            .transpose()
    }
}

fn run(args: &[String]) -> Res<()> {
    let Some((verb, rest)) = args.split_first() else {
        return Err(CliError::usage(USAGE));
    };
    let opts = Opts::parse(rest)?;
    if opts.has("help") {
        say!("{USAGE}");
        return Ok(());
    }
    let now = SystemTime::now();
    match verb.as_str() {
        "--gen" | "-g" => cmd_gen(&opts),
        "--self" | "-s" => cmd_self(&opts, now),
        "--req" | "-r" => cmd_req(&opts),
        "--issue" | "-i" => cmd_issue(&opts, now),
        "--print" | "-a" => cmd_print(&opts, now),
        "--verify" | "-v" => cmd_verify(&opts, now),
        "--pub" | "-p" => cmd_pub(&opts),
        "--keyid" | "-k" => cmd_keyid(&opts),
        "--signcrl" | "-c" => cmd_signcrl(&opts, now),
        "enroll" | "--enroll" => cmd_enroll(&opts, now),
        "--help" | "-h" | "help" => {
            say!("{USAGE}");
            Ok(())
        }
        other => Err(CliError::usage(format!(
            "unknown command '{other}'\n{USAGE}"
        ))),
    }
}

// ---- input -------------------------------------------------------------

/// Read `--in` (or stdin when absent or `-`), returning (display name, bytes).
fn read_input(path: Option<&str>) -> Res<(String, Vec<u8>)> {
    match path {
        None | Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::new("<stdin>", e))?;
            Ok(("<stdin>".into(), buf))
        }
        Some(p) => std::fs::read(p)
            .map(|b| (p.to_string(), b))
            .map_err(|e| CliError::new(p, io_reason(&e))),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Load a private key, warning when group/others can read the file.
fn load_private_key(path: Option<&str>) -> Res<(String, PrivateKey)> {
    let (name, bytes) = read_input(path)?;
    warn_if_exposed(path);
    let key = PrivateKey::from_bytes(&bytes).map_err(|e| CliError::new(&name, e))?;
    Ok((name, key))
}

fn warn_if_exposed(path: Option<&str>) {
    if let Some(p) = path.filter(|p| *p != "-") {
        if let Ok(Some(mode)) = files::exposed_key_mode(Path::new(p)) {
            eprintln!(
                "nvesec-pki: warning: {p}: private key file is readable by group/others (mode {mode:04o}); run chmod 600 {p}"
            );
        }
    }
}

fn load_certs(path: &str) -> Res<Vec<Certificate>> {
    let (name, bytes) = read_input(Some(path))?;
    Certificate::from_bytes(&bytes).map_err(|e| CliError::new(name, e))
}

fn load_cert(path: &str) -> Res<Certificate> {
    Ok(load_certs(path)?.remove(0))
}

// ---- output ------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Pem,
    Der,
}

fn outform(opts: &Opts) -> Res<Form> {
    match opts.get("outform").unwrap_or("pem") {
        "pem" => Ok(Form::Pem),
        "der" => Ok(Form::Der),
        other => Err(CliError::usage(format!(
            "--outform: '{other}' is not pem or der"
        ))),
    }
}

/// Write to `--outfile` (created new unless `--force`; keys 0600) or stdout.
fn emit(opts: &Opts, bytes: &[u8], secret: bool) -> Res<()> {
    match opts.get("outfile") {
        Some(path) => write_file(Path::new(path), bytes, secret, opts.has("force")),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|_| out.flush())
                .map_err(|e| CliError::new("<stdout>", e))
        }
    }
}

fn write_file(path: &Path, bytes: &[u8], secret: bool, force: bool) -> Res<()> {
    let mode = if secret { 0o600 } else { 0o644 };
    files::write_new(path, bytes, mode, force).map_err(|e| {
        let name = path.display().to_string();
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::new(name, "output file exists (use --force to overwrite)")
        } else {
            CliError::new(name, io_reason(&e))
        }
    })
}

fn encode(form: Form, label: &str, der: &[u8]) -> Vec<u8> {
    match form {
        Form::Pem => nvesec_pki::encoding::to_pem(label, der).into_bytes(),
        Form::Der => der.to_vec(),
    }
}

// ---- shared option handling ---------------------------------------------

fn key_type(opts: &Opts) -> Res<KeyType> {
    let kind = opts.get("type").unwrap_or("ed25519");
    KeyType::from_type_and_size(kind, opts.number("size")?).map_err(CliError::usage)
}

fn sans(opts: &Opts) -> Res<Vec<SubjectAltName>> {
    opts.all("san")
        .into_iter()
        .map(|s| SubjectAltName::parse(s).map_err(CliError::usage))
        .collect()
}

fn dn(text: &str) -> Res<Dn> {
    Dn::parse(text).map_err(CliError::usage)
}

fn profile(opts: &Opts, subject: Dn) -> Res<CertProfile> {
    let mut p = if opts.has("ca") {
        CertProfile::ca(subject)
    } else {
        CertProfile::end_entity(subject)
    };
    p.sans = sans(opts)?;
    if let Some(days) = opts.number("lifetime")? {
        p.lifetime_days = days;
    }
    p.path_len = opts.number("pathlen")?;
    p.flags = opts
        .all("flag")
        .into_iter()
        .map(|f| {
            Flag::parse(f).ok_or_else(|| CliError::usage(format!("--flag: unknown flag '{f}'")))
        })
        .collect::<Res<_>>()?;
    p.serial = opts.get("serial").map(parse_hex).transpose()?;
    p.not_before = opts.get("not-before").map(parse_date).transpose()?;
    p.not_after = opts.get("not-after").map(parse_date).transpose()?;
    Ok(p)
}

fn parse_hex(text: &str) -> Res<Vec<u8>> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    let digits = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CliError::usage(format!("'{text}' is not a hex number")));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(CliError::usage))
        .collect()
}

/// strongSwan's default `--dateform` "%d.%m.%y %T", taken as UTC.
fn parse_date(text: &str) -> Res<SystemTime> {
    let bad = || CliError::usage(format!("'{text}' is not a date as 'dd.mm.yy HH:MM:SS'"));
    let (date, clock) = text.trim().split_once(' ').ok_or_else(bad)?;
    let d: Vec<u32> = date
        .split('.')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Res<_>>()?;
    let t: Vec<u8> = clock
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Res<_>>()?;
    let (&[day, month, yy], &[h, m, s]) = (&d[..], &t[..]) else {
        return Err(bad());
    };
    // strptime %y: 69-99 are 19xx, 00-68 are 20xx.
    let year = if yy >= 100 {
        yy as i32
    } else if yy >= 69 {
        1900 + yy as i32
    } else {
        2000 + yy as i32
    };
    let month =
        time::Month::try_from(u8::try_from(month).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).map_err(|_| bad())?)
        .map_err(|_| bad())?;
    let clock = time::Time::from_hms(h, m, s).map_err(|_| bad())?;
    let ts = time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp();
    let secs = u64::try_from(ts).map_err(|_| bad())?;
    Ok(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

// ---- commands ------------------------------------------------------------

fn cmd_gen(opts: &Opts) -> Res<()> {
    let kt = key_type(opts)?;
    let key = PrivateKey::generate(kt).map_err(CliError::usage)?;
    let bytes = match outform(opts)? {
        Form::Pem => zeroize::Zeroizing::new(key.to_pem().as_bytes().to_vec()),
        Form::Der => key.to_pkcs8_der(),
    };
    emit(opts, &bytes, true)
}

fn cmd_self(opts: &Opts, now: SystemTime) -> Res<()> {
    let (name, key) = load_private_key(opts.get("in"))?;
    let p = profile(opts, dn(opts.need("dn")?)?)?;
    let cert = issue::self_sign(&key, &p, now).map_err(|e| CliError::new(name, e))?;
    emit(
        opts,
        &encode(outform(opts)?, "CERTIFICATE", cert.der()),
        false,
    )
}

fn cmd_req(opts: &Opts) -> Res<()> {
    let (name, key) = load_private_key(opts.get("in"))?;
    let subject = dn(opts.need("dn")?)?;
    let mut p = CertProfile::end_entity(subject.clone());
    p.sans = sans(opts)?;
    let req = Csr::create(&key, &subject, &issue::effective_sans(&p))
        .map_err(|e| CliError::new(name, e))?;
    emit(
        opts,
        &encode(outform(opts)?, "CERTIFICATE REQUEST", req.der()),
        false,
    )?;
    // ovs-pki prints the request fingerprint for the out-of-band check; keep
    // stdout clean when the request itself goes there.
    let line = format!(
        "fingerprint (SHA-256): {}",
        key::hex_colon(&req.fingerprint_sha256())
    );
    if opts.has("outfile") {
        say!("{line}");
    } else {
        eprintln!("{line}");
    }
    Ok(())
}

/// `--issue` input: a CSR (signature checked) or a public key.
fn subject_input(opts: &Opts) -> Res<(String, PublicKey, Option<Csr>)> {
    let (name, bytes) = read_input(opts.get("in"))?;
    let want = opts.get("type");
    let is_csr = match want {
        Some("pkcs10") => true,
        Some("pub") => false,
        Some(other) => {
            return Err(CliError::usage(format!(
                "--type: '{other}' is not pkcs10 or pub"
            )))
        }
        None => {
            let text_csr = bytes.windows(19).any(|w| w == b"CERTIFICATE REQUEST");
            text_csr
                || (!nvesec_pki::encoding::is_pem(&bytes)
                    && PublicKey::from_spki_der(&bytes).is_err())
        }
    };
    if is_csr {
        let req = Csr::from_bytes(&bytes).map_err(|e| CliError::new(&name, e))?;
        Ok((name, req.public_key().clone(), Some(req)))
    } else {
        let pk = PublicKey::from_bytes(&bytes).map_err(|e| CliError::new(&name, e))?;
        Ok((name, pk, None))
    }
}

fn cmd_issue(opts: &Opts, now: SystemTime) -> Res<()> {
    let (_, subject_key, req) = subject_input(opts)?;
    let ca_path = opts.need("cacert")?;
    let ca = load_cert(ca_path)?;
    let (key_name, ca_key) = load_private_key(Some(opts.need("cakey")?))?;
    let subject = match (opts.get("dn"), &req) {
        (Some(text), _) => dn(text)?,
        (None, Some(r)) => r.subject().clone(),
        (None, None) => {
            return Err(CliError::usage(
                "--dn is required when issuing for a public key",
            ))
        }
    };
    let mut p = profile(opts, subject)?;
    if p.sans.is_empty() {
        if let Some(r) = &req {
            p.sans = r.sans().to_vec();
        }
    }
    let cert = issue::issue(&subject_key, &p, &ca, &ca_key, now)
        .map_err(|e| issue_error(e, ca_path, &key_name))?;
    emit(
        opts,
        &encode(outform(opts)?, "CERTIFICATE", cert.der()),
        false,
    )
}

fn issue_error(e: nvesec_pki::IssueError, ca_path: &str, key_name: &str) -> CliError {
    use nvesec_pki::IssueError as E;
    match e {
        E::KeyMismatch => CliError::new(
            key_name,
            format!("private key does not match CA certificate {ca_path}"),
        ),
        other => CliError::new(ca_path, other),
    }
}

fn cmd_print(opts: &Opts, now: SystemTime) -> Res<()> {
    use nvesec_pki::encoding::BlockKind as K;
    let (name, bytes) = read_input(opts.get("in"))?;
    let blocks = nvesec_pki::encoding::decode(&bytes).map_err(|e| CliError::new(&name, e))?;
    let (kind, der) = (blocks[0].kind, blocks[0].der.to_vec());
    let err = |e: &dyn std::fmt::Display| CliError::new(&name, e);
    match kind {
        K::Certificate => {
            return print_cert(
                &name,
                &Certificate::from_der(der).map_err(|e| err(&e))?,
                now,
            )
        }
        K::Csr => return print_csr(&Csr::from_der(&der).map_err(|e| err(&e))?),
        K::Crl => return print_crl(&Crl::from_der(der).map_err(|e| err(&e))?, now),
        K::PublicKey => return print_pubkey(&PublicKey::from_spki_der(&der).map_err(|e| err(&e))?),
        K::Der => {
            if let Ok(c) = Certificate::from_der(der.clone()) {
                return print_cert(&name, &c, now);
            }
            if let Ok(r) = Csr::from_der(&der) {
                return print_csr(&r);
            }
            if let Ok(c) = Crl::from_der(der.clone()) {
                return print_crl(&c, now);
            }
            if let Ok(pk) = PublicKey::from_spki_der(&der) {
                return print_pubkey(&pk);
            }
        }
        _ => {}
    }
    let k = PrivateKey::from_bytes(&bytes).map_err(|e| err(&e))?;
    say!("  privkey:   {}", k.key_type().describe());
    print_pubkey(&k.public_key())
}

fn print_csr(r: &Csr) -> Res<()> {
    say!("  subject:  \"{}\"", r.subject_text());
    print_sans(r.sans());
    print_pubkey(r.public_key())?;
    say!(
        "  fingerprint (SHA-256): {}",
        key::hex_colon(&r.fingerprint_sha256())
    );
    Ok(())
}

fn print_crl(c: &Crl, now: SystemTime) -> Res<()> {
    say!("  issuer:   \"{}\"", c.issuer());
    say!("  update:    this on {}", fmt_time(c.this_update()));
    if let Some(n) = c.next_update() {
        let state = if c.is_stale(now) { "expired" } else { "ok" };
        say!("             next on {}, {state}", fmt_time(n));
    }
    say!("  revoked:   {} certificates", c.revoked_count());
    Ok(())
}

fn print_cert(name: &str, c: &Certificate, now: SystemTime) -> Res<()> {
    let i = c.info().map_err(|e| CliError::new(name, e))?;
    say!("  subject:  \"{}\"", i.subject);
    say!("  issuer:   \"{}\"", i.issuer);
    print_sans(&i.sans);
    let nb_ok = cert::unix_seconds(now) >= i.not_before;
    say!(
        "  validity:  not before {}, {}",
        fmt_time(i.not_before),
        if nb_ok { "ok" } else { "not valid yet" }
    );
    let days = i.days_until_expiry(now);
    let state = if days < 0 {
        format!("expired ({} days ago)", -days)
    } else {
        format!("ok (expires in {days} days)")
    };
    say!("             not after  {}, {state}", fmt_time(i.not_after));
    say!("  serial:    {}", key::hex_colon(&i.serial));
    let mut flags = Vec::new();
    if i.is_ca {
        flags.push("CA".to_string());
    }
    if i.key_usage.contains(&"cRLSign") {
        flags.push("CRLSign".into());
    }
    flags.extend(i.ext_key_usage.iter().cloned());
    if i.self_signed {
        flags.push("self-signed".into());
    }
    say!("  flags:     {}", flags.join(" "));
    if let Some(n) = i.path_len {
        say!("  pathlen:   {n}");
    }
    if !i.key_usage.is_empty() {
        say!("  keyUsage:  {}", i.key_usage.join(" "));
    }
    if let Some(k) = &i.authority_key_id {
        say!("  authkeyId: {}", key::hex_colon(k));
    }
    if let Some(k) = &i.subject_key_id {
        say!("  subjkeyId: {}", key::hex_colon(k));
    }
    match &i.public_key {
        Ok(pk) => print_pubkey(pk),
        Err(e) => {
            say!("  pubkey:    {e}");
            Ok(())
        }
    }
}

fn print_sans(sans: &[SubjectAltName]) {
    if !sans.is_empty() {
        let list: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        say!("  altNames:  {}", list.join(", "));
    }
}

fn print_pubkey(pk: &PublicKey) -> Res<()> {
    say!("  pubkey:    {}", pk.key_type().describe());
    say!("  keyid:     {}", key::hex_colon(&pk.keyid_sha1()));
    say!("  subjkey:   {}", key::hex_colon(&pk.subjkey_sha1()));
    Ok(())
}

/// "Nov 23 10:15:57 2026 UTC", close to strongSwan's `--print`.
fn fmt_time(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let month = t.month().to_string();
            format!(
                "{} {:02} {:02}:{:02}:{:02} {} UTC",
                &month[..3],
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.year()
            )
        }
        Err(_) => unix.to_string(),
    }
}

fn cmd_verify(opts: &Opts, now: SystemTime) -> Res<()> {
    let in_path = opts.get("in");
    let (name, bytes) = read_input(in_path)?;
    let mut chain = Certificate::from_bytes(&bytes).map_err(|e| CliError::new(&name, e))?;
    let ee = chain.remove(0);
    let mut store = TrustStore::new();
    let cacerts = opts.all("cacert");
    if cacerts.is_empty() {
        // strongSwan verifies a self-signed certificate against itself.
        store
            .add_ca(ee.clone())
            .map_err(|e| CliError::new(&name, e))?;
    }
    for path in &cacerts {
        for ca in load_certs(path)? {
            store.add_ca(ca).map_err(|e| CliError::new(*path, e))?;
        }
    }
    for path in opts.all("crl") {
        let (crl_name, crl_bytes) = read_input(Some(path))?;
        let crl = Crl::from_bytes(&crl_bytes).map_err(|e| CliError::new(&crl_name, e))?;
        store
            .add_crl(crl)
            .map_err(|e| CliError::new(&crl_name, e))?;
    }
    let v = verify::verify_chain(&ee, &chain, &store, now).map_err(|e| CliError::new(&name, e))?;
    let revocation = if v.revocation_checked {
        ", certificate not revoked"
    } else {
        ""
    };
    say!("certificate trusted, lifetimes valid{revocation}");
    let days = v.days_until_expiry(now);
    if days <= 30 {
        eprintln!("nvesec-pki: warning: {name}: certificate expires in {days} days");
    }
    Ok(())
}

/// A public key from any credential; a private key file gets the
/// permission check too.
fn any_public_key(opts: &Opts) -> Res<PublicKey> {
    let path = opts.get("in");
    let (name, bytes) = read_input(path)?;
    if let Ok(k) = PrivateKey::from_bytes(&bytes) {
        warn_if_exposed(path);
        return Ok(k.public_key());
    }
    PublicKey::from_bytes(&bytes).map_err(|e| CliError::new(name, e))
}

fn cmd_pub(opts: &Opts) -> Res<()> {
    let pk = any_public_key(opts)?;
    emit(
        opts,
        &encode(outform(opts)?, "PUBLIC KEY", pk.spki_der()),
        false,
    )
}

fn cmd_keyid(opts: &Opts) -> Res<()> {
    let pk = any_public_key(opts)?;
    let id = opts.get("id").unwrap_or("all");
    let format = opts.get("format").unwrap_or("pretty");
    let show = |label: &str, v: &[u8]| match format {
        "hex" => say!("{}", key::hex(v)),
        _ => say!("{label}:\n             {}", key::hex_colon(v)),
    };
    if id == "all" || id == "spk" {
        show("subjkey (SHA-1 of subjectPublicKey)", &pk.subjkey_sha1());
    }
    if id == "all" || id == "spki" {
        show("keyid (SHA-1 of subjectPublicKeyInfo)", &pk.keyid_sha1());
    }
    Ok(())
}

fn cmd_signcrl(opts: &Opts, now: SystemTime) -> Res<()> {
    let ca_path = opts.need("cacert")?;
    let ca = load_cert(ca_path)?;
    let (key_name, ca_key) = load_private_key(Some(opts.need("cakey")?))?;
    let mut revoked = Vec::new();
    let mut reason: Option<String> = None;
    let mut date: Option<SystemTime> = None;
    for (name, value) in &opts.items {
        match name.as_str() {
            "reason" => {
                crl::parse_reason(value).map_err(CliError::usage)?;
                reason = Some(value.clone());
            }
            "date" => {
                let secs: u64 = value.parse().map_err(|_| {
                    CliError::usage(format!("--date: '{value}' is not a Unix timestamp"))
                })?;
                date = Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs));
            }
            "cert" | "serial" => {
                let serial = if name == "cert" {
                    let c = load_cert(value)?;
                    c.info().map_err(|e| CliError::new(value, e))?.serial
                } else {
                    parse_hex(value)?
                };
                revoked.push(crl::Revocation {
                    serial,
                    reason: reason.take(),
                    date: date.take(),
                });
            }
            _ => {}
        }
    }
    let lifetime = opts
        .number("lifetime")?
        .unwrap_or(crl::DEFAULT_CRL_LIFETIME_DAYS);
    // The CRL number must grow (RFC 5280 §5.2.3); the signing time does.
    let number = u64::try_from(cert::unix_seconds(now)).unwrap_or(1);
    let c = crl::sign_crl(&ca, &ca_key, &revoked, lifetime, number, now).map_err(|e| match e {
        crl::CrlError::Issue(ie) => issue_error(ie, ca_path, &key_name),
        other => CliError::new(ca_path, other),
    })?;
    emit(opts, &encode(outform(opts)?, "X509 CRL", c.der()), false)
}

fn cmd_enroll(opts: &Opts, now: SystemTime) -> Res<()> {
    let host = opts.need("name")?;
    if !names::looks_like_hostname(host) {
        return Err(CliError::usage(format!(
            "--name: '{host}' is not a host name"
        )));
    }
    let dir = PathBuf::from(opts.get("dir").unwrap_or("/etc/nvesec"));
    let ca_path = opts.need("cacert")?;
    let ca = load_cert(ca_path)?;
    let (key_name, ca_key) = load_private_key(Some(opts.need("cakey")?))?;
    let subject = dn(opts.get("dn").unwrap_or(host))?;
    let mut p = profile(opts, subject.clone())?;
    if p.ca {
        return Err(CliError::usage(
            "enroll makes end-entity certificates; --ca is not allowed",
        ));
    }
    p.sans = issue::effective_sans(&p);
    // The same steps as the two-step flow: key, CSR (checked), certificate.
    let key = PrivateKey::generate(key_type(opts)?).map_err(CliError::usage)?;
    let req = Csr::create(&key, &subject, &p.sans).map_err(|e| CliError::new(host, e))?;
    let cert = issue::issue(req.public_key(), &p, &ca, &ca_key, now)
        .map_err(|e| issue_error(e, ca_path, &key_name))?;
    let mut store = TrustStore::new();
    store
        .add_ca(ca.clone())
        .map_err(|e| CliError::new(ca_path, e))?;
    verify::verify_chain(&cert, &[], &store, now).map_err(|e| CliError::new(host, e))?;

    let force = opts.has("force");
    for (sub, mode) in [("private", 0o700), ("x509", 0o755), ("x509ca", 0o755)] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)
            .map_err(|e| CliError::new(d.display().to_string(), io_reason(&e)))?;
        if sub == "private" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))
                .map_err(|e| CliError::new(d.display().to_string(), io_reason(&e)))?;
        }
    }
    let key_path = dir.join("private").join(format!("{host}.pem"));
    let cert_path = dir.join("x509").join(format!("{host}.pem"));
    let ca_name = Path::new(ca_path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("ca");
    let ca_out = dir.join("x509ca").join(format!("{ca_name}.pem"));
    for p in [&key_path, &cert_path] {
        if p.exists() && !force {
            return Err(CliError::new(
                p.display().to_string(),
                "output file exists (use --force to overwrite)",
            ));
        }
    }
    write_file(&key_path, key.to_pem().as_bytes(), true, force)?;
    write_file(&cert_path, cert.to_pem().as_bytes(), false, force)?;
    let same_ca = std::fs::read(&ca_out)
        .ok()
        .and_then(|b| Certificate::from_bytes(&b).ok())
        .is_some_and(|c| c[0] == ca);
    if !same_ca {
        write_file(&ca_out, ca.to_pem().as_bytes(), false, force)?;
    }
    say!("private key  {}", key_path.display());
    say!("certificate  {}", cert_path.display());
    say!("CA           {}", ca_out.display());
    say!("identity     {} (subject \"{}\")", host, subject);
    Ok(())
}
