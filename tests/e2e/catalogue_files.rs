//! Product files (INT-1) as a shop and an operator use them: a CSV or JSON
//! file imported whole or not at all, bad rows reported by line, another
//! shop's catalogue out of reach, and exports that import again.

use serde_json::{Value, json};

use crate::catalogue::{market, seafood, shop};
use crate::on_both_backends;
use crate::support::{Server, first_code};

const IMPORT: &str = "mutation($merchant: String!, $file: Upload!) { importProducts(merchant: $merchant, file: $file) { products variants problems { line reason } userErrors { code } } }";
const EXPORT: &str = "query($merchant: String!, $format: ProductFileFormat!) { exportProducts(merchant: $merchant, format: $format) }";
const MINE: &str = "query($merchant: ID!) { myProducts(merchant: $merchant, first: 50) { edges { node { name variants { skuCode priceFen stock { available } } } } } }";

const GOOD: &str = "product,name,category,unit,min_order_qty,after_sale_note,attributes,tags,sku,variant,price_fen,stock,seasonal,sold_by_weight
p1,潜江清水小龙虾,shrimp-crab,jin,1,死虾包赔,颜色=青;规格=4-6两,当季,QJ-46,4-6两 / 5斤装,4500,20,true,false
p1,潜江清水小龙虾,shrimp-crab,jin,1,死虾包赔,颜色=青;规格=4-6两,当季,QJ-6,6两以上 / 5斤装,5800,8,true,false
p2,盱眙红膏小龙虾,shrimp-crab,jin,2,死虾包赔,颜色=红,,XY-34,3-4两 / 3斤装,3200,15,false,false
";

/// Line 2 is fine, line 3 has an attribute value the category does not allow,
/// line 4 names no category the market has, line 5 a price that is not a number.
const BAD: &str = "product,name,category,unit,after_sale_note,attributes,sku,variant,price_fen
p1,好虾,shrimp-crab,jin,包赔,颜色=青,A1,一斤,1000
p2,坏虾,shrimp-crab,jin,包赔,颜色=紫,A2,一斤,1000
p3,怪鱼,deep-sea,jin,包赔,,A3,一斤,1000
p4,贵虾,shrimp-crab,jin,包赔,颜色=青,A4,一斤,lots
";

async fn upload(server: &Server, token: &str, merchant: &str, name: &str, bytes: &[u8]) -> Value {
    let operations =
        json!({ "query": IMPORT, "variables": { "merchant": merchant, "file": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string()),
        );
    let response = server
        .http
        .post(server.url("/graphql"))
        .header("accept", "application/graphql-response+json")
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("request");
    response.json().await.expect("JSON")
}

async fn product_names(server: &Server, token: &str, merchant: &str) -> Vec<String> {
    let (_, body) = server
        .graphql_as(token, MINE, json!({ "merchant": merchant }))
        .await;
    let mut names: Vec<String> = body["data"]["myProducts"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

on_both_backends! {
    async fn product_files_import_whole_or_not_at_all(db: TestDb) {
        let (server, root) = market(&db).await;
        seafood(&server, &root).await;
        let (crayfish_shop, owner) = shop(&server, &db, &root, "owner@shiji.example", "active").await;
        let (other_shop, other) = shop(&server, &db, &root, "rival@shiji.example", "active").await;

        // A file with bad rows changes nothing, and says which rows and why.
        let body = upload(&server, &owner, &crayfish_shop, "products.csv", BAD.as_bytes()).await;
        let payload = &body["data"]["importProducts"];
        assert_eq!(payload["products"], 0, "{body}");
        let lines: Vec<i64> = payload["problems"].as_array().unwrap().iter().map(|p| p["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, [3, 4, 5], "{body}");
        let reasons = payload["problems"].to_string();
        assert!(reasons.contains("颜色") && reasons.contains("deep-sea") && reasons.contains("price_fen"), "{reasons}");
        assert!(product_names(&server, &owner, &crayfish_shop).await.is_empty());

        // A good file: every product, variant, price and stock level.
        let body = upload(&server, &owner, &crayfish_shop, "products.csv", GOOD.as_bytes()).await;
        let payload = &body["data"]["importProducts"];
        assert_eq!((payload["products"].as_i64(), payload["variants"].as_i64()), (Some(2), Some(3)), "{body}");
        assert_eq!(product_names(&server, &owner, &crayfish_shop).await, ["潜江清水小龙虾", "盱眙红膏小龙虾"]);
        let (_, body) = server.graphql_as(&owner, MINE, json!({ "merchant": crayfish_shop })).await;
        let variants: Vec<Value> = body["data"]["myProducts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["node"]["variants"].as_array().unwrap().clone())
            .collect();
        let six = variants.iter().find(|v| v["skuCode"] == "QJ-6").unwrap_or_else(|| panic!("{body}"));
        assert_eq!((six["priceFen"].as_i64(), six["stock"]["available"].as_i64()), (Some(5800), Some(8)));

        // Another shop can neither import into nor export this one.
        let body = upload(&server, &other, &crayfish_shop, "products.csv", GOOD.as_bytes()).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");
        let (_, body) = server.graphql_as(&other, EXPORT, json!({ "merchant": crayfish_shop, "format": "CSV" })).await;
        assert_eq!(first_code(&body), "FORBIDDEN", "{body}");

        // An export imports again: the rival's own catalogue from this one's file.
        let (_, body) = server.graphql_as(&owner, EXPORT, json!({ "merchant": crayfish_shop, "format": "JSON" })).await;
        let exported = body["data"]["exportProducts"].as_str().unwrap_or_else(|| panic!("{body}")).to_string();
        let rows: Vec<Value> = serde_json::from_str(&exported).unwrap();
        assert_eq!(rows.len(), 3);
        let body = upload(&server, &other, &other_shop, "copy.json", exported.as_bytes()).await;
        assert_eq!(body["data"]["importProducts"]["variants"], 3, "{body}");
        assert_eq!(product_names(&server, &other, &other_shop).await, ["潜江清水小龙虾", "盱眙红膏小龙虾"]);

        // The operator's command line: the same rules, with a progress bar on stderr.
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, BAD).unwrap();
        let env = db.env();
        let run = |args: Vec<String>| {
            let env = env.clone();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_shiji"))
                    .args(&args)
                    .env_remove("SHIJI_CONFIG")
                    .envs(env)
                    .output()
                    .expect("shiji")
            })
        };
        let out = run(vec!["import".into(), "products".into(), bad.display().to_string(), "--merchant".into(), other_shop.clone()]).await.unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("nothing imported") && stderr.contains("line 4"), "{stderr}");
        let out = run(vec!["export".into(), "products".into(), "--merchant".into(), other_shop.clone()]).await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let csv = String::from_utf8_lossy(&out.stdout);
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(csv.contains("盱眙红膏小龙虾"));
    }
}
