//! nvesecd's configuration pipeline on real files: conf model + credentials -> engine
//! connections, gsa-dp policies (SET_GSP), routes (SET_ROUTES) and device flags.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use nvesec::daemon::state::load_all;
use nvesec::daemon::translate::{dp_args, reqid};
use nvesec_gsa_dp::gsp::{Action, Direction, Sel, Template};
use nvesec_gsa_dp::keying::encode_request;
use nvesec_gsa_dp::keying::{Request, RequestMsg};
use nvesec_gsa_dp::wire::gso::GsoKind;
use nvesec_ikev2::config::{Credential, Identity, IdentityMatcher, PeerAuthMethod};
use nvesec_pki::{issue, self_sign, CertProfile, Dn, KeyType, PrivateKey};

const CONF: &str = r#"
connections {
  gw {
    local_addrs = 192.0.2.1
    remote_addrs = 192.0.2.2
    proposals = aes128gcm16-prfsha384-x25519
    local {
      auth = pubkey
      certs = nve1.pem
    }
    remote {
      auth = pubkey
      id = *.nve.example
    }
    children {
      red {
        gsa_proposals = aes128gcm16-esn
        vnis = 100-101
        start_action = start
        padding = 16
      }
    }
  }
  lab {
    remote_addrs = 198.51.100.7
    local {
      auth = psk
      id = nve1.nve.example
    }
    remote {
      auth = psk
      id = lab.example.net
    }
    children {
      green {
        vnis = 300
        protection = gao
      }
    }
  }
}
secrets {
  ike-lab {
    id = lab.example.net
    secret = 0x00112233445566778899
  }
}
overlay {
  networks {
    red {
      vni = 100
      device = tap
      ifname = nvs-red
      peers {
        p {
          underlay = 192.0.2.2
          prefixes = 10.100.0.2/32, 10.100.1.0/24
        }
      }
    }
  }
}
policies {
  red-out {
    direction = out
    vnis = 100
    action = secure
    gsas = gw.red
  }
  green-in {
    direction = in
    vnis = 300
    ip_proto = tcp
    dst_ports = 22
    action = secure
    gsas = lab.green
  }
  rest {
    action = discard
  }
}
nvesecd {
  retransmit_timeout = 1.5s
  retransmit_base = 1.4
  retransmit_tries = 3
}
"#;

fn tree(dir: &Path, with_key: bool) {
    let now = SystemTime::now();
    let ca_key = PrivateKey::generate(KeyType::Ed25519).unwrap();
    let ca = self_sign(&ca_key, &CertProfile::ca(Dn::parse("CN=CA").unwrap()), now).unwrap();
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let prof = CertProfile::end_entity(Dn::parse("O=x, CN=nve1.nve.example").unwrap());
    let cert = issue(&key.public_key(), &prof, &ca, &ca_key, now).unwrap();
    for d in ["x509", "x509ca", "private"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::write(dir.join("x509ca/ca.pem"), ca.to_pem()).unwrap();
    fs::write(dir.join("x509/nve1.pem"), cert.to_pem()).unwrap();
    if with_key {
        fs::write(dir.join("private/nve1.pem"), key.to_pem().as_bytes()).unwrap();
    }
    fs::write(dir.join("nvesec.conf"), CONF).unwrap();
}

#[test]
fn a_full_tree_translates_to_engine_policies_and_routes() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path(), true);
    let (l, warnings) = load_all(&d.path().join("nvesec.conf")).unwrap();
    assert!(
        warnings.iter().all(|w| w.contains("readable by group")),
        "{warnings:?}"
    );
    let tr = &l.tr;
    // nvesecd.retransmit_*: the engine's schedule (1.5 s, 2.1 s, 2.94 s, then 4.116 s).
    let rt = &tr.engine.retransmit;
    assert_eq!(rt.timeout, std::time::Duration::from_millis(1500));
    assert!((rt.base - 1.4).abs() < 1e-9, "{}", rt.base);
    assert_eq!((rt.tries, rt.limit), (3, None));
    // Engine: the pubkey connection signs with the key matched to x509/nve1.pem, its id
    // defaults to the certificate's subject DN, and the remote is a domain match.
    let gw = tr.engine.connection("gw").unwrap();
    assert!(
        matches!(&gw.local.credential, Credential::Signature { chain, .. } if chain.len() == 1)
    );
    assert!(matches!(&gw.local.id, Identity::DerAsn1Dn(_)));
    assert_eq!(
        gw.remote.id,
        IdentityMatcher::DomainSuffix(".nve.example".into())
    );
    assert!(matches!(gw.remote.method, PeerAuthMethod::Certificate(_)));
    assert_eq!(
        (gw.ike_proposals[0].encr_key_bits, gw.ike_proposals[0].prf),
        (128, 6)
    );
    let red = &gw.children[0];
    assert_eq!(red.key_bits, 128);
    assert_eq!(
        (
            red.selectors.geneve[0].vni_start,
            red.selectors.geneve[0].vni_end
        ),
        (100, 101)
    );
    let lab = tr.engine.connection("lab").unwrap();
    assert!(
        matches!(&lab.local.credential, Credential::Psk(p) if p.as_bytes() == [0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99])
    );
    assert_eq!(
        lab.remote.id,
        IdentityMatcher::Exact(Identity::Fqdn("lab.example.net".into()))
    );
    assert_eq!(tr.start, ["gw"]);
    // gsa-dp: policies in file order with templates by reqid.
    assert_eq!(tr.policies.len(), 3);
    assert_eq!(tr.policies[0].dir, Direction::Out);
    assert_eq!(tr.policies[0].selectors.vni, Sel::Ranges(vec![(100, 100)]));
    assert_eq!(
        tr.policies[0].action,
        Action::Secure {
            gsos: vec![Template {
                reqid: reqid("red"),
                kind: GsoKind::Geo
            }]
        }
    );
    assert_eq!(tr.policies[1].selectors.ip_proto, Sel::Ranges(vec![(6, 6)]));
    assert_eq!(
        tr.policies[1].selectors.dst_port,
        Sel::Ranges(vec![(22, 22)])
    );
    assert_eq!(
        tr.policies[1].action,
        Action::Secure {
            gsos: vec![Template {
                reqid: reqid("green"),
                kind: GsoKind::Gao
            }]
        }
    );
    assert_eq!(tr.policies[2].action, Action::Discard);
    assert_eq!(tr.policy_names[&3], "rest");
    // The SET_ROUTES line gsa-dp receives.
    let line = encode_request(&RequestMsg {
        seq: 1,
        req: Request::SetRoutes(tr.routes.clone()),
    });
    assert_eq!(
        line.as_str(),
        r#"{"v":1,"seq":1,"op":"SET_ROUTES","routes":[{"prefix":"10.100.0.2/32","remote":"192.0.2.2","vni":100,"port":null},{"prefix":"10.100.1.0/24","remote":"192.0.2.2","vni":100,"port":null}]}"#
    );
    let dp = &tr.children[&("gw".to_string(), "red".to_string())];
    assert_eq!(
        dp.coverage.padding,
        nvesec_gsa_dp::gsa::Padding::Multiple(16)
    );
    assert_eq!(dp_args(&l.conf.overlay), ["--tap", "nvs-red:100:1400"]);
}

#[test]
fn a_certificate_without_its_key_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path(), false);
    let errs = load_all(&d.path().join("nvesec.conf")).err().unwrap();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "connections.gw.local: no private key in private/ matches the certificate "
        ) && errs[0].ends_with("x509/nve1.pem"),
        "{errs:?}"
    );
}

#[test]
fn a_missing_psk_and_a_corrupt_ca_are_refused() {
    let d = tempfile::tempdir().unwrap();
    tree(d.path(), true);
    let conf = d.path().join("nvesec.conf");
    fs::write(
        &conf,
        CONF.replace("id = lab.example.net\n    secret", "id = other\n    secret"),
    )
    .unwrap();
    let errs = load_all(&conf).err().unwrap();
    assert!(
        errs.iter()
            .any(|e| e.contains("connection 'lab' uses auth = psk but no secret matches")),
        "{errs:?}"
    );
    fs::write(&conf, CONF).unwrap();
    fs::write(d.path().join("x509ca/ca.pem"), "garbage").unwrap();
    let errs = load_all(&conf).err().unwrap();
    assert!(errs[0].contains("x509ca/ca.pem: "), "{errs:?}");
}

#[test]
fn the_example_tree_checks_but_has_no_private_key() {
    let errs = load_all(Path::new("examples/etc/nvesec/nvesec.conf"))
        .err()
        .unwrap();
    assert!(
        errs.iter()
            .any(|e| e.contains("no private key in private/")),
        "{errs:?}"
    );
}

#[test]
fn a_full_mesh_shares_one_reqid_per_child_name() {
    let conn = |name: &str, peer: &str| {
        format!(
            "  {name} {{\n    remote_addrs = {peer}\n    local {{\n      auth = psk\n      id = a.mesh\n    }}\n    remote {{\n      auth = psk\n      id = {name}.mesh\n    }}\n    children {{\n      net {{\n        vnis = 100\n      }}\n    }}\n  }}\n"
        )
    };
    let text = format!(
        "connections {{\n{}{}}}\nsecrets {{\n  ike-all {{\n    secret = 0x0102030405060708\n  }}\n}}\npolicies {{\n  out {{\n    vnis = 100\n    action = secure\n    gsas = net\n  }}\n}}\n",
        conn("b", "192.0.2.2"),
        conn("c", "192.0.2.3")
    );
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("nvesec.conf"), text).unwrap();
    let (l, _) = load_all(&d.path().join("nvesec.conf")).unwrap();
    let tr = &l.tr;
    let r = reqid("net");
    assert_eq!(tr.children_by_reqid(r).count(), 2);
    assert_eq!(
        tr.policies[0].action,
        Action::Secure {
            gsos: vec![Template {
                reqid: r,
                kind: GsoKind::Geo
            }]
        }
    );
}
