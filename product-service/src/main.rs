//! The product service binary (default port 8002); see the crate documentation.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common_platform::server::run(&product_service::SERVICE, product_service::start).await
}
