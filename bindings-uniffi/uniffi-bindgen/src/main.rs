//! `uniffi-bindgen`, pinned to the workspace's uniffi version so the generated Kotlin and Swift
//! always match the scaffolding compiled into `switchboard-uniffi`.
//! Usage: `uniffi-bindgen generate --library <libswitchboard_uniffi.so> --language kotlin --out-dir <dir>`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
