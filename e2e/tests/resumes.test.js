// Story: a developer asks for a resume from their GitHub login, watches it being
// written, shares it; another person finds it in the community, likes it and comments;
// the owner is told of both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, launch, person, signUp, check, unique } from "./support.js";

test("ask for a resume, see it written, share it; another person likes and comments", async () => {
  const browser = await launch();
  try {
    const owner = await person(browser);
    const nick = unique("dev");
    await signUp(owner.page, nick);
    await owner.page.getByRole("link", { name: "이력서" }).click();
    await owner.page.getByRole("link", { name: "새 이력서 만들기" }).click();
    await owner.page.getByLabel("GitHub 아이디").fill("hana-dev");
    await owner.page.getByLabel("직무").selectOption("BACKEND");
    await owner.page.getByLabel("학력·과정").selectOption("BOOTCAMP");
    await owner.page.getByLabel(/강조할 경험/).fill("결제 서버 트래픽 3배를 무중단으로 버팀");
    await check(owner.page, "resume-new");
    await owner.page.getByRole("button", { name: "이력서 만들기" }).click();
    await owner.page.waitForURL(/\/resumes\/[0-9a-f-]{36}$/);
    const url = owner.page.url();
    // Written in the background: the page turns into the resume by itself.
    await owner.page.locator("#status", { hasText: "완성" }).waitFor({ timeout: 15000 });
    await owner.page.getByRole("heading", { name: "프로젝트" }).waitFor();
    await owner.page.getByText("자동 템플릿 (AI 아님)").waitFor();
    await owner.page.getByText(/결제 서버 트래픽/).first().waitFor();
    await owner.page.getByRole("button", { name: "커뮤니티에 공개" }).click();
    await owner.page.getByText("모두에게 공개 중입니다.").waitFor();
    await check(owner.page, "resume");

    const reader = await person(browser);
    await signUp(reader.page, unique("reader"));
    await reader.page.goto(`${BASE}/resumes?position=BACKEND`);
    await check(reader.page, "resume-community");
    await reader.page.getByRole("link", { name: new RegExp(nick) }).click();
    await reader.page.waitForURL(url);
    await reader.page.getByRole("button", { name: "좋아요" }).click();
    await reader.page.getByRole("button", { name: "좋아요 취소" }).waitFor();
    await reader.page.locator("#counts", { hasText: "좋아요 1" }).waitFor();
    await reader.page.getByLabel("댓글 쓰기").fill("프로젝트 설명이 좋아요");
    await reader.page.getByRole("button", { name: "댓글 남기기" }).click();
    await reader.page.locator("li", { hasText: "프로젝트 설명이 좋아요" }).waitFor();

    // The owner hears of both (through the outbox: allow it a moment).
    for (let i = 0; ; i++) {
      await owner.page.goto(`${BASE}/notifications`);
      const text = await owner.page.locator("main").textContent();
      if (text.includes("좋아요") && text.includes("새 댓글")) break;
      assert.ok(i < 20, `the owner was not notified: ${text}`);
      await owner.page.waitForTimeout(250);
    }
    await check(owner.page, "resume-notifications");
  } finally {
    await browser.close();
  }
});
