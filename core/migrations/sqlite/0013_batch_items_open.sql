-- Finding whether a batch still has items in flight (rank below terminal) without counting all of its
-- items: the batch tracker asks after every terminal media event, so a count per event grew with the
-- square of the batch's size.
CREATE INDEX batch_items_open ON batch_items (batch_id, rank);
