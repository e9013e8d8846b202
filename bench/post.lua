-- wrk script for bench/run-collector.sh: POST one CRM-style form body (the
-- spec's order status postback, with the fields a real CRM adds) on every
-- request, then print one machine-readable RESULT line for the runner.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["User-Agent"] = "CRM-Webhook/1.0"
wrk.body = "orderId=N1&status=delivered&total=120.13&currency=USD" ..
    "&userId=U1&email=buyer%40example.com&phone=%2B15551234567" ..
    "&items%5B0%5D%5Bsku%5D=SKU-1&items%5B0%5D%5Bqty%5D=2" ..
    "&utm_source=google&utm_medium=cpc&utm_campaign=spring" ..
    "&created_at=2020-10-19T18%3A17%3A32Z"

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT requests=%d duration_us=%d " ..
	    "p50_us=%d p90_us=%d p99_us=%d max_us=%d status_errors=%d " ..
	    "socket_errors=%d\n", summary.requests, summary.duration,
	    latency:percentile(50), latency:percentile(90),
	    latency:percentile(99), latency.max, e.status,
	    e.connect + e.read + e.write + e.timeout))
end
