//! pealet over WAN links: the agent and the operator commands through a shaping proxy
//! (`examples/wan-proxy/shaper.rs`, whose own tests run here too) in front of a real
//! mosquitto.

#[allow(dead_code)]
#[path = "../../examples/wan-proxy/shaper.rs"]
pub(crate) mod shaper;
