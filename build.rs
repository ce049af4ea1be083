// `sqlx::migrate!` embeds the migrations when the crate compiles, and cargo does not know it
// read them: without this, a new migration file was not in the next build until some source
// file changed too (sqlx's own advice, `sqlx migrate build-script`).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
