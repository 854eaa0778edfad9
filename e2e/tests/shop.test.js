// Story: a new person signs up, buys the flash-sale item, pays, sees the order; the
// notification bell of their other open tab counts the payment notice live.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, person, signUp, signIn, check, unique } from "./support.js";

test("sign up, buy the flash-sale item, pay, see the order; the bell updates live", async () => {
  const browser = await launch();
  try {
    const { context, page } = await person(browser);
    await page.goto(`${BASE}/`);
    await check(page, "home");
    const nick = unique("buyer");
    await signUp(page, nick);

    await page.goto(`${BASE}/shop`);
    await check(page, "catalog");
    // The filters work without JavaScript too; with htmx only the results change.
    await page.getByLabel("정렬").selectOption("price_desc");
    await page.waitForURL(/sort=price_desc/);
    await page.getByRole("link", { name: /플래시 세일/ }).first().click();
    await page.getByRole("heading", { level: 1, name: /플래시 세일/ }).waitFor();
    const stockBefore = Number(await page.locator(".stock strong").textContent());
    await check(page, "product");

    // A second tab of the same person, on another page: its bell must count live.
    const other = await context.newPage();
    await other.goto(`${BASE}/me`);
    const bell = other.locator("#bell-count");
    const unreadBefore = Number(await bell.textContent());

    // A bad phone number comes back beside its field, in Korean, with what was typed.
    await page.getByLabel("수량").fill("1");
    await page.getByLabel("받는 분").fill("김구매");
    await page.getByLabel("연락처").fill("전화 주세요");
    await page.getByLabel("주소").fill("서울시 중구 세종대로 110");
    await page.getByLabel("우편번호").fill("04524");
    await page.getByRole("button", { name: "주문하기" }).click();
    await page.getByText("연락처를 확인해 주세요").waitFor();
    assert.equal(await page.getByLabel("받는 분").inputValue(), "김구매");
    await check(page, "order-form-error");
    await page.getByLabel("연락처").fill("010-1234-5678");
    await page.getByRole("button", { name: "주문하기" }).click();
    await page.waitForURL(/\/shop\/orders\/[0-9a-f-]{36}$/);
    await page.getByText("결제 대기").waitFor();
    await check(page, "order-pending");

    await page.getByRole("button", { name: /결제하기/ }).click();
    await page.getByText("결제가 완료되었습니다.").waitFor();
    await page.locator(".status", { hasText: "결제 완료" }).waitFor();
    await check(page, "order-paid");

    // The other tab heard the payment notice without reloading.
    await other.waitForFunction(
      (before) => Number(document.getElementById("bell-count").textContent) > before,
      unreadBefore,
      { timeout: 10000 },
    );
    await other.getByText(/새 알림/).waitFor();

    await page.goto(`${BASE}/shop/orders`);
    await page.locator(".status", { hasText: "결제 완료" }).first().waitFor();
    await check(page, "my-orders");
    await page.goto(`${BASE}/notifications`);
    await check(page, "notifications");

    // The stock went down by the one sold.
    await page.goto(`${BASE}/shop`);
    await page.getByRole("link", { name: /플래시 세일/ }).first().click();
    const stockAfter = Number(await page.locator(".stock strong").textContent());
    assert.equal(stockAfter, stockBefore - 1);

    // Signed out, the pages that need a session send to the sign-in page.
    await page.getByRole("button", { name: "로그아웃" }).click();
    await page.goto(`${BASE}/shop/orders`);
    await page.waitForURL(/\/login\?next=/);
    await check(page, "login");
    // And the demo account signs in with the same form.
    await signIn(page, "minji@surge.local", "surge-demo-1234");
  } finally {
    await browser.close();
  }
});
