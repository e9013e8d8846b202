-- wrk script for bench/run-collector.sh's hookspooldid and hookspooldedup
-- rows: post.lua (its body and RESULT line), plus an X-Delivery header
-- unique to every request (thread, start time, a random number and a
-- counter), so that the dedup index is claimed and committed on every hit
-- and no request is a duplicate.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "post.lua")

local threads = 0
local prefix, n = "", 0

function setup(thread)
	threads = threads + 1
	thread:set("tid", threads)
end

function init(args)
	math.randomseed(os.time() + (tid or 0) * 7919)
	prefix = string.format("%s-%d-%d-", tostring(tid), os.time(),
	    math.random(1, 1000000000))
end

function request()
	n = n + 1
	wrk.headers["X-Delivery"] = prefix .. n
	return wrk.format()
end
