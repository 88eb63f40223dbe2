// Renders a Vega-Lite spec (JSON on stdin) to SVG on stdout, headless (no browser, no canvas). A separate ES module
// because vega is ESM-only with top-level await, which the CommonJS bench cannot require.
import { compile } from "vega-lite";
import { parse, View } from "vega";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const view = new View(parse(compile(JSON.parse(input)).spec), { renderer: "none" });
process.stdout.write(await view.toSVG());
