// Compiles contracts/*.sol with the pinned solc (npm "solc") into contracts/build/:
// <Name>.abi (JSON) and <Name>.bin (hex creation bytecode, no 0x) per contract.
// contracts/testing/*.sol are test-only helpers, compiled alongside.
// Usage: node contracts/compile.js <root>. Exits non-zero on any compiler error.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(process.argv[2] || ".");
const solc = require(path.join(root, "node_modules", "solc"));
const srcDir = path.join(root, "contracts");
const outDir = path.join(srcDir, "build");
const CONTRACTS = {
  Locking: "contracts/Locking.sol",
  StakeToken: "contracts/StakeToken.sol",
  FeeOnTransferToken: "contracts/testing/FeeOnTransferToken.sol",
};

function findImports(importPath) {
  // OpenZeppelin imports resolve into node_modules; nothing is fetched.
  for (const base of [root, path.join(root, "node_modules")]) {
    const file = path.join(base, importPath);
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `import not found: ${importPath}` };
}

const sources = {};
for (const dir of ["", "testing"]) {
  for (const name of fs.readdirSync(path.join(srcDir, dir)).sort()) {
    if (name.endsWith(".sol")) {
      const rel = path.posix.join("contracts", dir, name);
      sources[rel] = { content: fs.readFileSync(path.join(root, rel), "utf8") };
    }
  }
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    // cancun runs on Ethereum mainnet and every current L1 testnet and on anvil.
    evmVersion: "cancun",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) process.stderr.write(e.formattedMessage + "\n");
if (errors.length > 0) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const [name, file] of Object.entries(CONTRACTS)) {
  const unit = output.contracts[file];
  if (!unit || !unit[name]) {
    process.stderr.write(`contract ${name} missing from compiler output\n`);
    process.exit(1);
  }
  fs.writeFileSync(path.join(outDir, `${name}.abi`), JSON.stringify(unit[name].abi, null, 1) + "\n");
  fs.writeFileSync(path.join(outDir, `${name}.bin`), unit[name].evm.bytecode.object + "\n");
}
process.stdout.write(`compiled ${Object.keys(CONTRACTS).join(", ")} with solc ${solc.version()}\n`);
