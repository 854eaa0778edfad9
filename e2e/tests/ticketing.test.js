// Story: a traveller searches flights, picks two seats on the seat map (keyboard),
// holds them, pays, and sees the confirmed reservation with its tickets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, person, signUp, check, unique } from "./support.js";

test("search a flight, pick seats, hold, pay, see the reservation", async () => {
  const browser = await launch();
  try {
    const { page } = await person(browser);
    await signUp(page, unique("flyer"));
    await page.goto(`${BASE}/flights`);
    await page.getByLabel("출발 (공항 코드)").fill("GMP");
    await page.getByLabel("도착").fill("CJU");
    await page.getByRole("button", { name: "검색" }).click();
    await page.waitForURL(/origin=GMP/);
    await check(page, "flights");
    // A flight without a waiting-room sale: the seat map is offered.
    const links = page.locator("ul.list a[href^='/flights/']");
    const n = await links.count();
    assert.ok(n > 1, "demo flights listed");
    let found = false;
    for (let i = n - 1; i >= 0 && !found; i--) {
      await page.goto(`${BASE}/flights`);
      await page.goto(page.url().replace(/\/flights.*/, "/flights?origin=GMP&destination=CJU"));
      await page.locator("ul.list a[href^='/flights/']").nth(i).click();
      found = (await page.locator("ul.seatmap").count()) > 0;
    }
    assert.ok(found, "a flight with a seat map");
    await check(page, "seat-map");
    // Seats are checkboxes: pick two free ones with the keyboard.
    const free = page.locator("ul.seatmap input:not([disabled])");
    await free.nth(0).focus();
    await page.keyboard.press("Space");
    await free.nth(1).focus();
    await page.keyboard.press("Space");
    assert.equal(await page.locator("ul.seatmap input:checked").count(), 2);
    await page.getByRole("button", { name: "선택한 좌석 잡기" }).click();
    await page.waitForURL(/\/reservations\/[0-9a-f-]{36}$/);
    await page.getByText("좌석 잡힘 (결제 대기)").waitFor();
    await check(page, "reservation-held");
    await page.getByRole("button", { name: /결제하기/ }).click();
    await page.getByText("결제가 완료되어 예약이 확정되었습니다.").waitFor();
    assert.equal(await page.getByText("탑승권").count(), 2);
    await check(page, "reservation-confirmed");
    await page.goto(`${BASE}/reservations`);
    await page.locator(".status", { hasText: "예약 확정" }).first().waitFor();
    await check(page, "my-reservations");
  } finally {
    await browser.close();
  }
});

// Story: the demo's fare sale. Join the waiting room, be admitted (the page follows
// the live stream), pick a seat on the seat map, hold it and pay.
test("join the waiting room, be admitted, pick a seat, pay", async () => {
  const browser = await launch();
  try {
    const { page } = await person(browser);
    await signUp(page, unique("queuer"));
    await page.goto(`${BASE}/flights?origin=GMP&destination=CJU`);
    const n = await page.locator("ul.list a", { hasText: "7C1021" }).count();
    let joined = false;
    for (let i = 0; i < n && !joined; i++) {
      await page.goto(`${BASE}/flights?origin=GMP&destination=CJU`);
      await page.locator("ul.list a", { hasText: "7C1021" }).nth(i).click();
      if ((await page.getByRole("button", { name: "대기실 입장" }).count()) > 0) {
        await check(page, "sale-flight");
        await page.getByRole("button", { name: "대기실 입장" }).click();
        joined = true;
      }
    }
    assert.ok(joined, "the demo's sale flight offers the waiting room");
    // Waiting or already admitted: either way the seat map opens by itself.
    await page.locator("ul.seatmap").waitFor({ timeout: 20000 });
    await check(page, "seat-map-admitted");
    await page.locator("ul.seatmap input:not([disabled]) + label").first().click();
    assert.equal(await page.locator("ul.seatmap input:checked").count(), 1);
    await page.getByRole("button", { name: "선택한 좌석 잡기" }).click();
    await page.getByText("좌석 잡힘 (결제 대기)").waitFor();
    await page.getByRole("button", { name: /결제하기/ }).click();
    await page.getByText("결제가 완료되어 예약이 확정되었습니다.").waitFor();
    await check(page, "sale-reservation-confirmed");
  } finally {
    await browser.close();
  }
});
