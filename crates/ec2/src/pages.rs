//! Walking every page of a describe, one request per page.

use std::future::Future;

use crate::error::{Ec2Error, ErrorKind};
use crate::model::Page;
use crate::op::Op;
use crate::request::DescribeQuery;

/// Upper bound on pages in one walk: a server that keeps returning tokens must not loop us
/// forever (at 1000 items a page this is ten million items).
pub const MAX_PAGES: usize = 10_000;

/// Fetches `query` and every following page with `fetch` (one call per page) and returns
/// all items in order.
///
/// ```text
/// let enis = collect_pages(Op::DescribeNetworkInterfaces, query, |q| async move {
///     ec2.describe_network_interfaces(&q).await
/// }).await?;
/// ```
pub async fn collect_pages<T, F, Fut>(
    op: Op,
    query: DescribeQuery,
    mut fetch: F,
) -> Result<Vec<T>, Ec2Error>
where
    F: FnMut(DescribeQuery) -> Fut,
    Fut: Future<Output = Result<Page<T>, Ec2Error>>,
{
    let mut items = Vec::new();
    let mut next = query.clone();
    for _ in 0..MAX_PAGES {
        let page = fetch(next.clone()).await?;
        items.extend(page.items);
        match page.next_token {
            Some(token) if !token.is_empty() => {
                if next.next_token.as_deref() == Some(token.as_str()) {
                    return Err(stuck(op, "the same NextToken twice"));
                }
                next = query.next_page(token);
            }
            _ => return Ok(items),
        }
    }
    Err(stuck(op, "more than MAX_PAGES pages"))
}

fn stuck(op: Op, why: &str) -> Ec2Error {
    Ec2Error::codeless(
        op,
        ErrorKind::Other,
        format!("pagination did not end: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[tokio::test]
    async fn follows_tokens_one_call_per_page() {
        let calls = RefCell::new(Vec::new());
        let items = collect_pages(
            Op::DescribeSubnets,
            DescribeQuery::default().page_size(2),
            |q| {
                calls.borrow_mut().push(q.next_token.clone());
                async move {
                    Ok(match q.next_token.as_deref() {
                        None => Page {
                            items: vec![1, 2],
                            next_token: Some("a".into()),
                        },
                        Some("a") => Page {
                            items: vec![3, 4],
                            next_token: Some("b".into()),
                        },
                        _ => Page::last(vec![5]),
                    })
                }
            },
        )
        .await
        .expect("pages");
        assert_eq!(items, vec![1, 2, 3, 4, 5]);
        assert_eq!(
            *calls.borrow(),
            vec![None, Some("a".to_string()), Some("b".to_string())]
        );
    }

    #[tokio::test]
    async fn a_repeated_token_is_an_error_not_a_loop() {
        let err = collect_pages(Op::DescribeSubnets, DescribeQuery::default(), |_q| async {
            Ok(Page {
                items: vec![1],
                next_token: Some("same".to_string()),
            })
        })
        .await
        .expect_err("stuck pagination");
        assert_eq!(err.kind, ErrorKind::Other);
    }

    #[tokio::test]
    async fn an_empty_token_ends_the_walk() {
        let items = collect_pages(Op::DescribeSubnets, DescribeQuery::default(), |_q| async {
            Ok(Page {
                items: vec![1],
                next_token: Some(String::new()),
            })
        })
        .await
        .expect("one page");
        assert_eq!(items, vec![1]);
    }

    #[tokio::test]
    async fn errors_stop_the_walk() {
        let err =
            collect_pages::<u8, _, _>(Op::DescribeSubnets, DescribeQuery::default(), |_q| async {
                Err(Ec2Error::from_code(
                    Op::DescribeSubnets,
                    "RequestLimitExceeded",
                    "slow down",
                ))
            })
            .await
            .expect_err("error");
        assert_eq!(err.kind, ErrorKind::Throttled);
    }
}
