//! Issue 14 end to end on the IKE engine: three NVEs whose engines are built by nvesecd's
//! translation from nvesec.conf text (swanctl's usual PSK layout, one secret per pair),
//! driven over the ikev2 crate's deterministic simulated network. Every pair comes up
//! whatever the order of the secrets, and a node at nve3's address that holds only the
//! nve1-nve2 key and claims to be nve3 is refused by nve1.

#[path = "../ikev2/tests/util/mod.rs"]
mod util;

use std::path::Path;
use std::time::Duration;

use nvesec::daemon::creds::Creds;
use nvesec::daemon::translate::translate;
use nvesec_ikev2::config::EngineConfig;
use nvesec_ikev2::endpoint::Event;
use nvesec_ikev2::sa::SaState;
use nvesec_ikev2::wire::NotifyType;
use util::*;

const ADDRS: [&str; 3] = ["192.0.2.1:500", "192.0.2.2:500", "192.0.2.3:500"];
const NAMES: [&str; 3] = ["nve1", "nve2", "nve3"];

/// nvesec.conf of `me` (0-based) calling itself `id`: a connection to each of `peers` with a
/// GSA on VNI 100, then `secrets` as `(section, ids, key)`.
fn conf(me: usize, id: &str, peers: &[usize], secrets: &[(String, Vec<String>, String)]) -> String {
    let mut t = String::from("connections {\n");
    for &p in peers {
        t += &format!(
            "  {peer} {{\n    local_addrs = 192.0.2.{l}\n    remote_addrs = 192.0.2.{r}\n    local {{\n      auth = psk\n      id = {id}.mesh\n    }}\n    remote {{\n      auth = psk\n      id = {peer}.mesh\n    }}\n    children {{\n      net {{\n        vnis = 100\n      }}\n    }}\n  }}\n",
            peer = NAMES[p],
            l = me + 1,
            r = p + 1,
        );
    }
    t += "}\nsecrets {\n";
    for (name, ids, key) in secrets {
        t += &format!("  {name} {{\n");
        for (i, id) in ids.iter().enumerate() {
            t += &format!("    id-{i} = {id}.mesh\n");
        }
        t += &format!("    secret = {key}\n  }}\n");
    }
    t + "}\n"
}

/// The pair secret of nodes `a` and `b` (0-based), as both hold it.
fn pair(a: usize, b: usize) -> (String, Vec<String>, String) {
    let (a, b) = (a.min(b), a.max(b));
    (
        format!("ike-{}{}", a + 1, b + 1),
        vec![NAMES[a].into(), NAMES[b].into()],
        format!("K{}{}", a + 1, b + 1),
    )
}

/// What nvesecd would hand the engine for this configuration text.
fn engine_from(text: &str) -> EngineConfig {
    let loaded = nvesec_conf::parse_str(
        &nvesec_conf::MemFs::new(),
        Path::new("/etc/nvesec/nvesec.conf"),
        text,
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    translate(&loaded.config, &Creds::default())
        .unwrap_or_else(|e| panic!("{e:?}"))
        .engine
}

fn established(net: &Net, node: usize) -> Vec<String> {
    let ep = &net.nodes[node].ep;
    let mut up: Vec<String> = ep
        .ike_sas()
        .into_iter()
        .filter_map(|id| ep.ike_sa(id))
        .filter(|sa| sa.state() == SaState::Established && sa.gsas().len() == 1)
        .map(|sa| sa.connection().name.clone())
        .collect();
    up.sort();
    up
}

#[test]
fn every_pair_of_a_psk_mesh_comes_up_whatever_the_order_of_the_secrets() {
    // Issue 14: with the secrets in this order, the old lookup gave every connection of a
    // node its first secret, and only the nve1-nve2 pair came up.
    for (round, reversed) in [false, true].into_iter().enumerate() {
        let mut net = Net::new();
        for me in 0..3 {
            let peers: Vec<usize> = (0..3).filter(|p| *p != me).collect();
            let mut secrets: Vec<_> = peers.iter().map(|p| pair(me, *p)).collect();
            if reversed {
                secrets.reverse();
            }
            let text = conf(me, NAMES[me], &peers, &secrets);
            net.add(NAMES[me], ADDRS[me], engine_from(&text), 7 + me as u8);
        }
        let now = net.now;
        for (me, local) in ADDRS.iter().enumerate() {
            for p in (0..3).filter(|p| *p > me) {
                net.nodes[me]
                    .ep
                    .initiate(now, NAMES[p], addr(local), None)
                    .unwrap();
            }
        }
        net.drive_for(Duration::from_secs(5), 2000);
        for (me, name) in NAMES.iter().enumerate() {
            let want: Vec<String> = (0..3)
                .filter(|p| *p != me)
                .map(|p| NAMES[p].to_string())
                .collect();
            assert_eq!(established(&net, me), want, "{name} round {round}");
            assert!(
                !net.nodes[me]
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::AuthFailed { .. })),
                "{name} round {round}"
            );
        }
    }
}

#[test]
fn a_node_holding_another_pairs_key_cannot_pass_as_nve3() {
    for nve1_secrets in [[pair(0, 1), pair(0, 2)], [pair(0, 2), pair(0, 1)]] {
        let mut net = Net::new();
        let nve1 = net.add(
            "nve1",
            ADDRS[0],
            engine_from(&conf(0, "nve1", &[1, 2], &nve1_secrets)),
            1,
        );
        // The impostor at nve3's address claims id nve3 and knows only K12, which it files
        // under its pair with nve1 (a stock nvesecd would not use the nve1-nve2 entry for
        // it: that key names nve2, not nve3).
        let stolen = (
            "ike-13".to_string(),
            vec!["nve1".to_string(), "nve3".to_string()],
            "K12".to_string(),
        );
        let impostor = net.add(
            "impostor",
            ADDRS[2],
            engine_from(&conf(2, "nve3", &[0], &[stolen])),
            3,
        );
        let now = net.now;
        net.nodes[impostor]
            .ep
            .initiate(now, "nve1", addr(ADDRS[2]), None)
            .unwrap();
        net.drive_for(Duration::from_secs(5), 500);

        // nve1 refused it: no IKE SA, no GSA, and it said AUTHENTICATION_FAILED.
        assert_eq!(net.nodes[nve1].ep.ike_sas().len(), 0);
        assert!(
            !net.nodes[nve1]
                .events
                .iter()
                .any(|e| matches!(e, Event::IkeSaUp { .. } | Event::GsaInstall { .. })),
            "nve1 accepted the impostor"
        );
        assert!(net.nodes[nve1].events.iter().any(|e| matches!(
            e,
            Event::AuthFailed { conn, notify: NotifyType::AUTHENTICATION_FAILED, .. } if conn == "nve3"
        )));
        assert!(net.nodes[impostor].events.iter().any(|e| matches!(
            e,
            Event::AuthFailed {
                notify: NotifyType::AUTHENTICATION_FAILED,
                ..
            }
        )));
        assert_eq!(net.nodes[impostor].ep.ike_sas().len(), 0);
    }
}
