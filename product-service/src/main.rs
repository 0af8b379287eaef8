//! The product service binary (default port 8002); see the crate documentation.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    common_platform::server::run_with_settings(
        "product-service",
        8002,
        product_service::ProductSettings::from_env,
        product_service::start,
    )
    .await
}
