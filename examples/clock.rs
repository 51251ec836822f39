//! A disciplined clock of the program's own, on tokio, without
//! CAP_SYS_TIME: follows the servers named on the command line and prints
//! the time with its error bound every second.
//!
//! ```text
//! cargo run --example clock --features tokio -- pool.ntp.org:123
//! ```

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let clock = ntpkit::keeper::Keeper::new(std::env::args().skip(1))
        .spawn()
        .await?;
    clock.synchronized().await;
    loop {
        let now = clock.now();
        let unix = now
            .time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        println!("{:.6} ± {:?}", unix.as_secs_f64(), now.error);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
