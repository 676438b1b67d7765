//! Topologies from a short description: N NVE namespaces on an underlay bridge or point-to-point links, netem impairments, cleanup on drop.
