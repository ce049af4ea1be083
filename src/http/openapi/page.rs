//! `GET /docs`: a page that renders the document, with a plain list of the endpoints for when
//! its script cannot load.

use super::document;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Redoc 2.5.4's standalone bundle (MIT; `assets/redoc.LICENSE` and the bundled libraries'
/// notices in `assets/redoc.standalone.js.LICENSE.txt`), from the npm package `redoc`, served
/// by the binary itself: a factory network often has no internet, so no CDN.
pub const REDOC_JS: &[u8] = include_bytes!("assets/redoc.standalone.js");
/// Where the page loads it from.
pub const REDOC_PATH: &str = "/docs/redoc.standalone.js";

pub fn page() -> String {
    let mut rows = String::new();
    if let Some(paths) = document()["paths"].as_object() {
        for (path, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                rows.push_str(&format!(
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                    method.to_uppercase(),
                    escape(path),
                    escape(op["summary"].as_str().unwrap_or_default()),
                ));
            }
        }
    }
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Eryxon Sync API</title>
<style>
body {{ margin: 0; font-family: system-ui, sans-serif; }}
#endpoints {{ max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
#endpoints td {{ padding: 0.2rem 0.8rem 0.2rem 0; vertical-align: top; }}
</style>
</head>
<body>
<div id="redoc"></div>
<section id="endpoints">
<h1>Eryxon Sync API</h1>
<p>The full description is the OpenAPI 3.1 document at <a href="/openapi.json">/openapi.json</a>.
This plain list shows while the interactive reference (a script this server serves) has not loaded.
Every <code>/api-*</code> call needs <code>Authorization: Bearer ery_live_…</code> (or <code>ery_test_…</code>).</p>
<table>
{rows}</table>
</section>
<script src="{REDOC_PATH}" onload="document.getElementById('endpoints').hidden = true; Redoc.init('/openapi.json', {{}}, document.getElementById('redoc'))"></script>
</body>
</html>
"#
    )
}
