//! Shop pages: the catalog (category filter, sort), a product with its live stock and
//! the order form, and (in `orders.rs`) checkout, payment, my orders and coupons.

mod orders;
mod product;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use surge_kernel::page::PageQuery;
use surge_shop::catalog::{ProductSort, ProductView};

use crate::page::{self, render, won};
use crate::session::Ctx;
use crate::WebState;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/shop", get(catalog))
        .route("/shop/products/{id}", get(product::product))
        .route("/shop/orders", get(orders::mine).post(product::place))
        .route("/shop/orders/{id}", get(orders::show))
        .route("/shop/orders/{id}/pay", post(orders::pay))
        .route("/shop/orders/{id}/approve", post(orders::approve))
        .route("/shop/orders/{id}/cancel", post(orders::cancel))
        .route("/shop/coupons", get(orders::coupons))
        .route(
            "/shop/coupons/{campaign}",
            get(orders::campaign).post(orders::claim),
        )
}

#[derive(Deserialize, Default)]
pub struct CatalogQuery {
    category: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

fn sort_of(s: Option<&str>) -> ProductSort {
    match s {
        Some("price_asc") => ProductSort::PriceAsc,
        Some("price_desc") => ProductSort::PriceDesc,
        _ => ProductSort::Newest,
    }
}

fn product_card(p: &ProductView) -> Markup {
    html! {
        li.card.product {
            h2 { a href={ "/shop/products/" (p.id) } { (p.name) } }
            p.price { (won(p.price)) }
            p { span.tag { (p.category) } }
            @if p.sold_out {
                p.soldout { "품절" }
            } @else {
                p.stock { "남은 수량 " (p.stock) "개" }
            }
        }
    }
}

fn results(items: &[ProductView], next: Option<&str>, q: &CatalogQuery) -> Markup {
    html! {
        div #results {
            @if items.is_empty() {
                p.empty { "조건에 맞는 상품이 없습니다." }
            }
            ul.grid {
                @for p in items { (product_card(p)) }
            }
            @if let Some(c) = next {
                p {
                    a href={
                        "/shop?cursor=" (c)
                        "&sort=" (q.sort.as_deref().unwrap_or("newest"))
                        "&category=" (q.category.as_deref().unwrap_or(""))
                    } { "다음 상품 보기" }
                }
            }
        }
    }
}

/// The catalog. With htmx, changing a filter swaps only the results (`HX-Request`).
async fn catalog(
    State(web): State<WebState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(q): Query<CatalogQuery>,
) -> Response {
    let Some(shop) = &web.h.shop else {
        return page::not_found(None);
    };
    let category = q.category.as_deref().filter(|c| !c.trim().is_empty());
    let pq = PageQuery {
        cursor: q.cursor.clone().filter(|c| !c.is_empty()),
        limit: Some(24),
    };
    let listed = match shop
        .catalog
        .list(&pq, category, sort_of(q.sort.as_deref()))
        .await
    {
        Ok(p) => p,
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    let body = results(&listed.items, listed.next_cursor.as_deref(), &q);
    if headers.contains_key("hx-request") && !headers.contains_key("hx-boosted") {
        return Html(body.into_string()).into_response();
    }
    // The categories offered: those of the newest products (the catalog has no
    // category table; a category with no product in the newest 100 is still reachable
    // by its URL).
    let all = PageQuery {
        cursor: None,
        limit: Some(100),
    };
    let mut categories: Vec<String> = match shop.catalog.list(&all, None, ProductSort::Newest).await
    {
        Ok(p) => p.items.into_iter().map(|p| p.category).collect(),
        Err(e) => return page::error(&web, &ctx, e).await,
    };
    categories.sort();
    categories.dedup();
    let sort = q.sort.as_deref().unwrap_or("newest");
    let page_body = html! {
        form.filters method="get" action="/shop"
            hx-get="/shop" hx-target="#results" hx-swap="outerHTML" hx-push-url="true"
            hx-trigger="change" {
            div.field {
                label for="category" { "분류" }
                select #category name="category" {
                    option value="" selected[category.is_none()] { "전체" }
                    @for c in &categories {
                        option value=(c) selected[category == Some(c.as_str())] { (c) }
                    }
                }
            }
            div.field {
                label for="sort" { "정렬" }
                select #sort name="sort" {
                    option value="newest" selected[sort == "newest"] { "최신순" }
                    option value="price_asc" selected[sort == "price_asc"] { "낮은 가격순" }
                    option value="price_desc" selected[sort == "price_desc"] { "높은 가격순" }
                }
            }
            noscript { button type="submit" { "적용" } }
        }
        (body)
        @if ctx.viewer.is_some() {
            p { a href="/shop/coupons" { "내 쿠폰" } }
        }
    };
    render(&web, &ctx, "쇼핑", page_body).await
}
