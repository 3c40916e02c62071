/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The bundle is committed under the Python package, so `pip install flowforge` needs no Node.
const server = process.env.FLOWFORGE_URL ?? "http://127.0.0.1:8989";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/flowforge/web/dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { "/api": server, "/hooks": server },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
