//! `shiji plugin …` as an operator and a plugin author use it: install, list,
//! toggle and uninstall against the store, and the harness that runs one hook
//! of a component with no database at all.

use std::process::Output;

use serde_json::{Value, json};

use crate::on_both_backends;

fn shiji(args: &[&str], env: &[(String, String)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shiji"))
        .args(args)
        .env_remove("SHIJI_CONFIG")
        .envs(env.iter().cloned())
        .output()
        .expect("run shiji")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hello_wasm() -> String {
    format!(
        "{}/../target/plugins/wasm32-wasip2/release/hello_plugin.wasm",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn hello_toml() -> String {
    format!(
        "{}/../examples/hello-plugin/plugin.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

on_both_backends! {
    async fn operators_manage_plugins_from_the_command_line(db: TestDb) {
        let env = db.env();
        let run = |args: Vec<String>| {
            let env = env.clone();
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                shiji(&args, &env)
            })
        };
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        let out = run(args(&["plugin", "install", &hello_wasm(), "--manifest", &hello_toml(), "--grant", "storage"])).await.unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let report = text(&out.stdout);
        assert!(report.contains("hello 0.1.0") && report.contains("granted: storage"), "{report}");

        let out = run(args(&["plugin", "install", &hello_wasm(), "--manifest", &hello_toml()])).await.unwrap();
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("already installed"), "{}", text(&out.stderr));

        // The configuration is checked against the schema before anything else.
        let out = run(args(&["plugin", "enable", "hello", "--market", "alpha", "--settings", r#"{"discountPercent": 200}"#])).await.unwrap();
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("/discountPercent"), "{}", text(&out.stderr));
        let out = run(args(&["plugin", "enable", "hello", "--market", "alpha"])).await.unwrap();
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("no market `alpha`"), "{}", text(&out.stderr));

        let out = run(args(&["plugin", "list"])).await.unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("hooks: adjust-prices, resolve"), "{}", text(&out.stdout));

        let out = run(args(&["plugin", "uninstall", "hello"])).await.unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = run(args(&["plugin", "list"])).await.unwrap();
        assert!(text(&out.stdout).contains("no plugins installed"), "{}", text(&out.stdout));
    }
}

fn harness(hook: &str, input: &Value, config: &str, storage: Option<&Value>) -> (bool, Value) {
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("input.json");
    std::fs::write(&input_path, input.to_string()).unwrap();
    let mut args = vec![
        "plugin".to_string(),
        "run".into(),
        hello_wasm(),
        "--manifest".into(),
        hello_toml(),
        "--hook".into(),
        hook.into(),
        "--input".into(),
        input_path.display().to_string(),
        "--settings".into(),
        config.into(),
    ];
    if let Some(storage) = storage {
        let path = dir.path().join("storage.json");
        std::fs::write(&path, storage.to_string()).unwrap();
        args.extend(["--storage".to_string(), path.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // No database: the harness must not need one.
    let out = shiji(
        &args,
        &[(
            "SHIJI_DATABASE_URL".into(),
            "postgres://nobody@127.0.0.1:1/none".into(),
        )],
    );
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", text(&out.stdout), text(&out.stderr)));
    (out.status.success(), report)
}

#[test]
fn the_harness_runs_one_hook_and_reports_its_cost() {
    let market =
        json!({ "code": "suzhou-shuangta", "time_zone": "Asia/Shanghai", "config_json": "" });
    let input = json!({
        "market": market,
        "customer": { "id": null, "segments": [], "orders_placed": 0 },
        "lines": [{
            "line_id": "l1", "product_id": "p", "variant_id": "v", "merchant_id": "m",
            "category": "aquatic", "quantity": 2, "unit_price": 4500, "sold_by_weight": false,
            "subtotal": 9000, "tags": ["special"]
        }],
        "now": "2026-11-25T08:00:00Z"
    });
    let (ok, report) = harness("adjust-prices", &input, r#"{"discountPercent": 20}"#, None);
    assert!(ok, "{report}");
    assert_eq!(
        report["output"]["adjustments"][0]["amount"], -1800,
        "{report}"
    );
    assert_eq!(
        report["output"]["adjustments"][0]["reason"]["zh_cn"],
        "今日特价 8 折"
    );
    assert!(report["fuelUsed"].as_u64().unwrap() > 1_000, "{report}");
    assert!(report["peakMemoryBytes"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["fault"], Value::Null);

    // Off-path: storage given on the command line, and shown after the call.
    let resolve = json!({
        "market": market, "type_name": "Query", "field": "helloGreeting",
        "arguments_json": "{\"market\":\"suzhou-shuangta\"}", "parent_json": null,
        "caller": { "subject": "user:1", "roles": ["customer"] }, "now": "2026-11-25T08:00:00Z"
    });
    let (ok, report) = harness(
        "resolve",
        &resolve,
        "{}",
        Some(&json!({ "greetings": "41" })),
    );
    assert!(ok, "{report}");
    assert_eq!(report["output"], "你好, Shiji (#42)");
    assert_eq!(report["storage"]["greetings"], "42");

    // A configuration the schema refuses is named, as an administrator's would be.
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("input.json");
    std::fs::write(&input_path, input.to_string()).unwrap();
    let out = shiji(
        &[
            "plugin",
            "run",
            &hello_wasm(),
            "--manifest",
            &hello_toml(),
            "--hook",
            "adjust-prices",
            "--input",
            input_path.to_str().unwrap(),
            "--settings",
            r#"{"discountPercent": 500}"#,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/discountPercent"),
        "{}",
        text(&out.stderr)
    );
}
