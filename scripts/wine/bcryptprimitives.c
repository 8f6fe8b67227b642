/*
 * bcryptprimitives.dll for Wine 8: Go >= 1.22 windows binaries call
 * ProcessPrng at runtime start and die without it ("bcryptprimitives.dll not
 * found"); Wine 8.0 has no such DLL. This one forwards to RtlGenRandom
 * (advapi32!SystemFunction036). It is test tooling only: it lives in the
 * Wine prefix's system32, never next to a shipped binary.
 * Built by scripts/wine/go-exec with mingw-w64 (see docs/design.md).
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	/* RtlGenRandom takes a ULONG length: feed it chunks of at most 1 GiB. */
	while (len > 0) {
		ULONG n = len > (1u << 30) ? (1u << 30) : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
	(void)inst; (void)reason; (void)reserved;
	return TRUE;
}
