//! Issue 7, scenario 2 (dataplane half): what the underlay shows. Two NVEs on a bridge with
//! gsa-dp keyed by hand; tshark decodes the capture as Geneve with our option class 0xFF00 and
//! type 0x82 (GEO) or 0x01 (GAO); a tenant marker never crosses in clear under GEO, is readable
//! under GAO, and a GAO packet modified in flight is rejected and counted (bad_icv).
//! TODO(nvesecd): the IKE half (ISAKMP/IKEv2 decoded on UDP 500) needs the daemon.

use nvesec_interop::attacker::{
    gso_offsets, show_delta, unseen_packets, Attacker, DpCounters, Sniffer,
};
use nvesec_interop::require_root;
use nvesec_interop::topology::{
    gsa_id, ping, tenant_addr, DpNves, Scenario, Suite, Topology, TENANT_DEV, UNDERLAY_DEV,
};

const MARKER: &[u8] = b"NVESEC-MARKER-02";

/// Geneve rows of a capture: (option class, option type, critical flag, VNI).
fn geneve_rows(p: &nvesec_interop::attacker::Pcap) -> Vec<Vec<String>> {
    p.tshark_fields(
        "geneve",
        &[
            "geneve.option.class",
            "geneve.option.type",
            "geneve.flags.critical",
            "geneve.vni",
        ],
    )
    .unwrap()
}

#[test]
fn geo_underlay_decodes_as_geneve_with_our_option_and_hides_the_marker() {
    require_root();
    let mut sc = Scenario::start("wire-geo");
    let t = Topology::build("bridge 2").unwrap();
    let nves = DpNves::start(&t).unwrap();
    nves.secure_pair(0, 1, Suite::Geo).unwrap();
    let under = Sniffer::start(&t.nve(0).ns, UNDERLAY_DEV, "udp port 6081").unwrap();
    let tun = Sniffer::start(&t.nve(0).ns, TENANT_DEV, "icmp").unwrap();
    let got = ping(&t.nve(0).ns, &tenant_addr(1).to_string(), 3, Some(MARKER));
    assert_eq!(got, 3, "{}\n{}", t.describe(), nves.dps[0].log());
    let (under, tun) = (under.stop().unwrap(), tun.stop().unwrap());
    let rows = geneve_rows(&under);
    sc.figure(format!("{} Geneve packets", rows.len()));
    assert_eq!(rows.len(), 6, "3 requests + 3 replies: {rows:?}");
    for r in &rows {
        // One option per packet: the GEO, class 0xFF00, type 0x82 (critical, so C is set).
        assert_eq!(r[0], "0xff00", "{rows:?}");
        assert_eq!(r[1], "0x82", "{rows:?}");
        assert!(r[2] == "1" || r[2] == "True", "C bit: {rows:?}");
        assert_eq!(r[3], "0x000064", "VNI 100: {rows:?}");
    }
    // The control: the tenant really sent the marker (on the tun), the underlay never shows it.
    assert!(tun.contains(MARKER), "the marker was not even sent");
    assert!(
        !under.contains(MARKER),
        "the marker crossed the underlay in clear"
    );
    sc.pass(format!(
        "{} Geneve pkts, all class 0xff00 type 0x82 C=1; marker: {} tun frames, 0 underlay hits",
        rows.len(),
        tun.frames.len()
    ));
}

#[test]
fn gao_underlay_shows_the_marker_and_a_modified_packet_is_rejected() {
    require_root();
    let sc = Scenario::start("wire-gao-tamper");
    let mut t = Topology::build("bridge 2; attacker").unwrap();
    let nves = DpNves::start(&t).unwrap();
    nves.secure_pair(0, 1, Suite::Gao).unwrap();
    let b = &nves.dps[1];
    let dst = tenant_addr(1).to_string();

    let under = Sniffer::start(&t.nve(0).ns, UNDERLAY_DEV, "udp port 6081").unwrap();
    assert_eq!(ping(&t.nve(0).ns, &dst, 2, Some(MARKER)), 2);
    let under = under.stop().unwrap();
    let rows = geneve_rows(&under);
    assert_eq!(
        rows.len(),
        4,
        "{rows:?}\n{:?}",
        under.tshark_fields("", &["frame.number", "_ws.col.Info"])
    );
    for r in &rows {
        assert_eq!(
            (r[0].as_str(), r[1].as_str()),
            ("0xff00", "0x01"),
            "{rows:?}"
        );
        assert!(
            r[2] == "0" || r[2] == "False",
            "GAO is not critical: {rows:?}"
        );
    }
    assert!(
        under.contains(MARKER),
        "GAO only authenticates: the marker is readable"
    );

    // A packet B has never seen: sent while B's link drops everything.
    let fresh = unseen_packets(&mut t, 0, 1, 1, MARKER).unwrap();
    let original = fresh[0].clone();
    let id = &original.payload[gso_offsets::GSA_ID..gso_offsets::GSA_ID + 4];
    assert_eq!(id, gsa_id(0, 1).to_be_bytes());

    let attacker = Attacker::of(&t).unwrap();
    let before = DpCounters::fetch(b).unwrap();
    let mut modified = original.clone();
    let last = modified.payload.len() - 1; // inside the ICMP data, covered by the GAO
    modified.payload[last] ^= 0x01;
    assert!(MARKER.contains(&original.payload[last]));
    attacker.send(&[modified]).unwrap();
    let after = DpCounters::wait(b, |c| c.drops() > before.drops()).unwrap();
    let d = after.delta(&before);
    assert_eq!(show_delta(&d), "bad_icv=1", "{after:?}");

    // The control: the same packet unmodified is accepted (its SN was still fresh).
    attacker.send(&[original]).unwrap();
    let last_c = DpCounters::wait(b, |c| {
        c.get("delivered_secured") > after.get("delivered_secured")
    })
    .unwrap();
    assert_eq!(
        last_c.get("delivered_secured"),
        after.get("delivered_secured") + 1
    );
    assert_eq!(last_c.drops(), after.drops());
    sc.pass(format!(
        "{} GAO pkts type 0x01, marker readable; flipped byte -> bad_icv +1, original -> delivered +1",
        rows.len()
    ));
}
