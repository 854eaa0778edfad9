// Shared by the stories: the browser, sign-up, screenshots and the accessibility check.
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import assert from "node:assert/strict";

export const BASE = process.env.SURGE_E2E_BASE ?? "http://127.0.0.1:8080";
export const OUT = new URL("../test-results/", import.meta.url).pathname;

export async function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/** A fresh browser context (its own cookies) on a phone-sized screen. */
export async function person(browser) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "ko-KR" });
  return { context, page: await context.newPage() };
}

export function unique(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

export async function signUp(page, nick) {
  await page.goto(`${BASE}/signup`);
  await page.getByLabel("이메일").fill(`${nick}@example.com`);
  await page.getByLabel("닉네임").fill(nick);
  await page.getByLabel("비밀번호 (8자 이상)").fill("password-1234");
  await page.getByRole("button", { name: "가입하기" }).click();
  await page.waitForURL(`${BASE}/`);
  await assert.doesNotReject(page.getByRole("button", { name: "로그아웃" }).waitFor());
}

export async function signIn(page, email, password) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel("이메일").fill(email);
  await page.getByLabel("비밀번호").fill(password);
  await page.getByRole("button", { name: "로그인" }).click();
  await page.getByRole("button", { name: "로그아웃" }).waitFor();
}

/** A screenshot under test-results/, and no serious or critical axe violation. */
export async function check(page, name) {
  await page.screenshot({ path: `${OUT}${name}.png`, fullPage: true });
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `accessibility of ${name}`,
  );
}
