"""tuspy (the tus project's Python client) against mediamill, for tests/tus.rs.

    tus_client.py start  URL KEY FILE STOP_AT CHUNK [CHECKSUM]   creates an upload, sends bytes until STOP_AT,
                                                                  prints the upload's URL
    tus_client.py resume URL KEY FILE UPLOAD_URL CHUNK [CHECKSUM] resumes the upload from where the server says,
                                                                  to the end, with a fresh client; prints the offset
CHECKSUM is 1 to send every chunk with Upload-Checksum (sha1).
"""
import sys

from tusclient import client


def main():
    mode, url, key, path = sys.argv[1:5]
    c = client.TusClient(url + "/v1/uploads", headers={"Authorization": "Bearer " + key})
    if mode == "start":
        stop_at, chunk = int(sys.argv[5]), int(sys.argv[6])
        checksum = len(sys.argv) > 7 and sys.argv[7] == "1"
        up = c.uploader(path, chunk_size=chunk, metadata={"filename": "resumed.jpg"}, upload_checksum=checksum)
        up.upload(stop_at=stop_at)
        print(up.url)
    elif mode == "resume":
        upload_url, chunk = sys.argv[5], int(sys.argv[6])
        checksum = len(sys.argv) > 7 and sys.argv[7] == "1"
        up = c.uploader(path, url=upload_url, chunk_size=chunk, upload_checksum=checksum)
        up.upload()
        print(up.offset)
    else:
        sys.exit("unknown mode " + mode)


main()
