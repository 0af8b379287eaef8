//! The order service binary (default port 8003); see the crate documentation.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common_platform::server::run(&order_service::SERVICE, order_service::start).await
}
