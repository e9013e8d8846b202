<?php // The PHP-FPM baseline: the five-line webhook catcher hookspool replaces.
$id = bin2hex(random_bytes(16));
$line = json_encode(['hit_id' => $id, 'payload' => file_get_contents('php://input'), 'received_at' => (int)(microtime(true) * 1000)]);
file_put_contents(getenv('HOOK_FILE') ?: '/tmp/hooks.ndjson', $line . "\n", FILE_APPEND | LOCK_EX);
echo $id;
