//! `uniffi-bindgen`, pinned to the workspace's uniffi version so the generated Kotlin and Swift
//! always match the scaffolding compiled into `switchboard-uniffi`.
//! Usage: `uniffi-bindgen generate --library <libswitchboard_uniffi.so> --language kotlin --out-dir <dir>`.
//!
//! Additions to uniffi's own generator, for Kotlin: the continuation callback of every async
//! call keeps the thread that calls it attached to the JVM (see [`KEEP_ATTACHED`]), and the
//! [`FIXES`] below, each where uniffi 0.32's generated code lets a mistake of the caller's crash
//! the JVM, hang a call, or escape as a Java exception instead of a `SwitchboardException`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The declaration of the object whose `callback` a Rust future calls when it can make progress.
/// That call comes from a runtime thread (a tokio worker), which JNA attaches to the JVM for the
/// call and, by default, detaches again afterwards: two JNI transitions and a new
/// `java.lang.Thread` for every async call, about a third of the Kotlin package's cost per call
/// (`benches/PROFILE.md`, section 5).
const ANCHOR: &str =
    "internal object uniffiRustFutureContinuationCallbackImpl: UniffiRustFutureContinuationCallback {\n";

/// Inserted after [`ANCHOR`]: JNA leaves the runtime's threads attached, as daemon threads named
/// `switchboard-runtime` (they never keep the JVM alive), and detaches each when it exits.
const KEEP_ATTACHED: &str =
    "    // Added by bindings-uniffi/uniffi-bindgen: the runtime threads that call this stay attached to
    // the JVM between calls instead of being attached and detached for every async call.
    init {
        com.sun.jna.Native.setCallbackThreadInitializer(
            this,
            com.sun.jna.CallbackThreadInitializer(true, false, \"switchboard-runtime\"),
        )
    }
";

/// Replacements in the generated Kotlin: what, the text uniffi writes, and ours. Each must apply
/// at least once (or have been applied): a uniffi whose generator changed fails the build here.
const FIXES: &[(&str, &str, &str)] = &[
    (
        // An object passed as an argument after its `close()`: uniffi cloned the freed handle
        // (a use after free: garbage, then SIGSEGV). Through `callWithHandle`, as a method call
        // on the object is, it is an IllegalStateException ("already been destroyed").
        "objects passed as arguments",
        "return value.uniffiCloneHandle()",
        "return value.callWithHandle { it } // bindings-uniffi/uniffi-bindgen: never a freed handle",
    ),
    (
        // A string holding a lone UTF-16 surrogate, which UTF-8 cannot carry: uniffi threw
        // java.nio.charset.MalformedInputException. Now core's `validation` error (the text of
        // `switchboard_core::sdk::not_unicode`), as Python and Node give.
        "strings that are not Unicode",
        "            onMalformedInput(CodingErrorAction.REPORT)\n            encode(CharBuffer.wrap(value))\n",
        "            onMalformedInput(CodingErrorAction.REPORT)\n            \
         try { encode(CharBuffer.wrap(value)) } catch (e: java.nio.charset.CharacterCodingException) {\n                \
         // bindings-uniffi/uniffi-bindgen: the text of switchboard_core::sdk::not_unicode\n                \
         throw SwitchboardException.Validation(\"an argument: a string holds a lone UTF-16 surrogate (\\\\ud800 to \
         \\\\udfff without its pair), which is not Unicode text; remove it or replace it with U+FFFD\", \
         \"validation\", null, null, null)\n            }\n",
    ),
    (
        // A callback (a TokenProvider, a TokenRefreshListener) that throws an Error
        // (`TODO()`, StackOverflowError) was not caught: Rust never heard back, and the call
        // waited forever. Every Throwable is its failure now (the sync helpers' `catch` too).
        "callbacks that throw an Error",
        "    } catch(e: kotlin.Exception) {\n",
        "    } catch(e: kotlin.Throwable) { // bindings-uniffi/uniffi-bindgen: Errors too\n",
    ),
    (
        // An async callback's string answer was turned into UTF-8 after the `try`: one Rust
        // cannot take (a lone surrogate) threw there, and the call waited forever. It is
        // checked inside the `try` now, so it fails the call.
        "async callbacks answering a string that is not Unicode",
        "        val callResult = try {\n            makeCall()\n",
        "        val callResult = try {\n            \
         makeCall().also { if (it is String) FfiConverterString.toUtf8(it) } // bindings-uniffi/uniffi-bindgen\n",
    ),
];

fn main() -> ExitCode {
    uniffi::uniffi_bindgen_main();
    let args: Vec<String> = std::env::args().collect();
    let generate = args.get(1).is_some_and(|a| a == "generate");
    let kotlin = generate && values(&args, "--language", "-l").any(|l| l == "kotlin");
    if !kotlin {
        return ExitCode::SUCCESS;
    }
    let Some(out) = values(&args, "--out-dir", "-o").next() else {
        eprintln!("uniffi-bindgen: Kotlin needs --out-dir, to keep the runtime threads attached");
        return ExitCode::FAILURE;
    };
    match keep_threads_attached(Path::new(out)).and_then(|()| fix(Path::new(out))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uniffi-bindgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The values given to an option, as `--name value`, `-n value` or `--name=value`.
fn values<'a>(args: &'a [String], long: &'a str, short: &'a str) -> impl Iterator<Item = &'a str> {
    args.iter().enumerate().filter_map(move |(i, a)| {
        if a == long || a == short {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(long).and_then(|rest| rest.strip_prefix('='))
        }
    })
}

/// Adds [`KEEP_ATTACHED`] to the generated Kotlin under `out`; an error when no file holds the
/// anchor (a uniffi version whose generator changed: the addition must be looked at again).
fn keep_threads_attached(out: &Path) -> Result<(), String> {
    let mut patched = 0;
    for file in kotlin_files(out)? {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        if text.contains(KEEP_ATTACHED) {
            patched += 1;
            continue;
        }
        let Some(at) = text.find(ANCHOR) else { continue };
        let at = at + ANCHOR.len();
        let text = format!("{}{KEEP_ATTACHED}{}", &text[..at], &text[at..]);
        std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        patched += 1;
    }
    if patched == 0 {
        return Err(format!(
            "no generated Kotlin under {} declares the future continuation callback \
             (`{}`): uniffi's generator changed, see bindings-uniffi/uniffi-bindgen",
            out.display(),
            ANCHOR.trim_end()
        ));
    }
    Ok(())
}

/// Applies [`FIXES`] to the generated Kotlin under `out`.
fn fix(out: &Path) -> Result<(), String> {
    let files = kotlin_files(out)?;
    let mut texts = Vec::new();
    for file in &files {
        texts.push(std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    for (what, from, to) in FIXES {
        let mut applied = false;
        for text in texts.iter_mut() {
            applied |= text.contains(to) || text.contains(from);
            *text = text.replace(from, to);
        }
        if !applied {
            return Err(format!(
                "no generated Kotlin under {} holds `{}` ({what}): uniffi's generator changed, see \
                 bindings-uniffi/uniffi-bindgen",
                out.display(),
                from.trim()
            ));
        }
    }
    for (file, text) in files.iter().zip(texts) {
        std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}

fn kotlin_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "kt") {
                files.push(path);
            }
        }
    }
    Ok(files)
}
