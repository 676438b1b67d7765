//! Several engines: a full mesh where every pair initiates at once ends with one IKE SA per
//! pair (lowest-Ni tie-break), and INITIAL_CONTACT after a peer restart replaces the stale SA.

mod util;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nvesec_ikev2::endpoint::{seeded_rng, Endpoint, Event};
use nvesec_ikev2::sa::events::DownReason;
use nvesec_ikev2::sa::SaState;
use util::*;

const ADDRS: [&str; 3] = ["192.0.2.1:500", "192.0.2.2:500", "192.0.2.3:500"];
const NAMES: [&str; 3] = ["n0", "n1", "n2"];

fn mesh_config(me: usize) -> nvesec_ikev2::config::EngineConfig {
    let conns = (0..3)
        .filter(|p| *p != me)
        .map(|p| {
            psk_conn(
                &format!("to-{}", NAMES[p]),
                &format!("{}.nve", NAMES[me]),
                &format!("{}.nve", NAMES[p]),
                ADDRS[p],
                b"mesh-psk",
                Some((1, 1000)),
            )
        })
        .collect();
    engine(conns)
}

#[test]
fn full_mesh_simultaneous_initiation_leaves_one_ike_sa_per_pair() {
    for seed in [1u8, 9, 17, 33] {
        let mut net = Net::new();
        for (i, a) in ADDRS.iter().enumerate() {
            net.add(NAMES[i], a, mesh_config(i), seed.wrapping_add(i as u8 * 40));
        }
        let now = net.now;
        for (i, local) in ADDRS.iter().enumerate() {
            for peer in NAMES
                .iter()
                .enumerate()
                .filter(|(p, _)| *p != i)
                .map(|(_, n)| n)
            {
                let conn = format!("to-{peer}");
                net.nodes[i]
                    .ep
                    .initiate(now, &conn, addr(local), None)
                    .unwrap();
            }
        }
        net.drive_for(Duration::from_secs(5), 2000);
        for (i, name) in NAMES.iter().enumerate() {
            let ids = net.nodes[i].ep.ike_sas();
            assert_eq!(
                ids.len(),
                2,
                "seed {seed}: {name} has {} IKE SAs",
                ids.len()
            );
            for id in ids {
                let sa = net.nodes[i].ep.ike_sa(id).unwrap();
                assert_eq!(sa.state(), SaState::Established);
                // The peer holds the same SA (same SPIs) with the mirrored GSA.
                let p = ADDRS.iter().position(|a| addr(a) == sa.remote()).unwrap();
                let twin = net.nodes[p]
                    .ep
                    .ike_sas()
                    .into_iter()
                    .map(|x| net.nodes[p].ep.ike_sa(x).unwrap())
                    .find(|s| s.spis() == sa.spis())
                    .expect("peer has the same IKE SA");
                assert_eq!(sa.gsas().len(), 1, "seed {seed}");
                assert_eq!(twin.gsas().len(), 1);
                assert_eq!(sa.gsas()[0].inbound_id, twin.gsas()[0].outbound_id);
            }
        }
    }
}

#[test]
fn initial_contact_after_restart_replaces_the_stale_sa() {
    let mut net = Net::new();
    let a = net.add(
        "a",
        A_ADDR,
        engine(vec![psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"k",
            Some((1, 9)),
        )]),
        1,
    );
    let b = net.add(
        "b",
        B_ADDR,
        engine(vec![psk_conn(
            "to-a",
            "b.nve",
            "a.nve",
            A_ADDR,
            b"k",
            Some((1, 9)),
        )]),
        2,
    );
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(1), 100);
    let stale = net.sa_id(b);
    net.nodes[b].events.clear();

    // A restarts: new engine, no state; it initiates again with INITIAL_CONTACT.
    net.nodes[a].ep = Endpoint::new(
        Arc::new(engine(vec![psk_conn(
            "to-b",
            "a.nve",
            "b.nve",
            B_ADDR,
            b"k",
            Some((1, 9)),
        )])),
        seeded_rng([77; 32]),
        net.now,
        SystemTime::UNIX_EPOCH,
    );
    let now = net.now;
    net.nodes[a]
        .ep
        .initiate(now, "to-b", addr(A_ADDR), None)
        .unwrap();
    net.drive_for(Duration::from_secs(1), 100);

    assert_eq!(net.nodes[b].ep.ike_sas().len(), 1);
    assert_ne!(net.sa_id(b), stale);
    assert_eq!(net.sa(a).spis(), net.sa(b).spis());
    assert_eq!(
        event_kinds(&net.nodes[b].events),
        vec!["IkeSaUp", "GsaInstall", "GsaRemove", "IkeSaDown"]
    );
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown { ike, reason: DownReason::InitialContact } if *ike == stale
    )));
}
