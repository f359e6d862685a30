//! The endpoint cases served in userspace (multiplexing on, no kernel splice).

mod endpoint_setup;
mod engine_process;
mod forwarder_cases;
mod redis_support;

fn endpoint_options() -> larder_endpoints::EndpointOptions {
    larder_endpoints::EndpointOptions::default()
}
