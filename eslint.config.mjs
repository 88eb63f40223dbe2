// `npm run lint`: typescript-eslint's recommended rules over the whole tree; tsc (strict) is the type check.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "dist/",
      "out/",
      "render/",
      "policies/node_modules/",
      "local/containers/mariadb-docker-10.11/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.jest } },
    rules: {
      // Modules are loaded where they are needed: each CLI command on its own, and the dynamic providers inside their
      // methods (the engine serializes them with what they capture).
      "@typescript-eslint/no-require-imports": "off",
      // Errors are rewritten to name what failed and to leave out what must never be printed (credentials inside
      // driver and API errors); the original is deliberately not attached as `cause`.
      "preserve-caught-error": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Untyped data at boundaries: dynamic provider properties, mocked RPC payloads, policy resource properties,
    // resources evaluated offline.
    files: ["components/providers/**", "test/**", "local/**", "offline/**", "policies/**"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
